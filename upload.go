package liveflux

import (
	"context"
	"mime/multipart"
)

// File uploads. The client sends a form that holds an <input type=file>
// with files in it as multipart/form-data over HTTP, even while the page's
// socket is open (the update that answers it still reaches every watcher),
// and reports the upload's progress. Handle reads the files with
// FormFiles; the other fields arrive in its url.Values as usual. Files
// are read into memory up to the body limit (WithMaxBodyBytes), and to
// temporary files past it, which are removed once the request is answered:
// copy what you keep before Handle returns.

type filesKey struct{}

// withFiles gives the action a request's files, for FormFiles.
func withFiles(ctx context.Context, f *multipart.Form) context.Context {
	if f == nil || len(f.File) == 0 {
		return ctx
	}
	return context.WithValue(ctx, filesKey{}, f.File)
}

// FormFiles returns the files the action Handle is running was sent in
// the form field name (ctx is Handle's), in the order the user chose them;
// nil when there are none. Open each with FileHeader.Open; Filename is the
// name the browser gave, not a safe path.
func FormFiles(ctx context.Context, name string) []*multipart.FileHeader {
	files, _ := ctx.Value(filesKey{}).(map[string][]*multipart.FileHeader)
	return files[name]
}
