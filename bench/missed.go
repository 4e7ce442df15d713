package main

import "github.com/go-liveflux/liveflux"

// missedOf is how many messages msg says its subscriber missed.
func missedOf(msg *liveflux.TopicMessage) int { return msg.Missed }
