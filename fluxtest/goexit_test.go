package fluxtest_test

import "runtime"

func panicOrExit() { runtime.Goexit() }
