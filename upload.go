package liveflux

import (
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
)

// File uploads. The client sends a form that holds an <input type=file>
// with files in it as multipart/form-data over HTTP, even while the page's
// socket is open (the update that answers it still reaches every watcher),
// and reports the upload's progress. Handle reads the files with
// FormFiles; the other fields arrive in its url.Values as usual. Files
// are read into memory up to the body limit (WithMaxBodyBytes), and to
// temporary files past it, which are removed once the request is answered:
// copy what you keep before Handle returns.

// DefaultMaxUploadFiles is how many files one action may send by default.
const DefaultMaxUploadFiles = 10

// uploadLimits bound what one multipart POST may carry.
type uploadLimits struct {
	bytes int64 // the body, files and fields; 0: the body limit
	files int   // 0: DefaultMaxUploadFiles
}

// WithMaxUploadBytes limits the size of a multipart POST body (an action
// with files, its other fields included); a larger one is refused with 413
// and "request body over N bytes". Defaults to the body limit
// (WithMaxBodyBytes, 1 MiB): raise it to accept larger files.
func WithMaxUploadBytes(n int64) HandlerOption {
	return func(h *Handler) {
		if n > 0 {
			h.uploads.bytes = n
		}
	}
}

// WithMaxUploadFiles limits how many files one action may send; more are
// refused with 413 and "more than N files". Defaults to
// DefaultMaxUploadFiles.
func WithMaxUploadFiles(n int) HandlerOption {
	return func(h *Handler) {
		if n > 0 {
			h.uploads.files = n
		}
	}
}

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

// bodyLimit returns the largest POST body h reads, for a body of media
// type mt.
func (h *Handler) bodyLimit(mt string) int64 {
	if mt == "multipart/form-data" && h.uploads.bytes > h.maxBody {
		return h.uploads.bytes
	}
	return h.maxBody
}

// errTooManyFiles refuses a multipart body with more files than allowed.
type errTooManyFiles int

func (e errTooManyFiles) Error() string { return fmt.Sprintf("more than %d files", int(e)) }

// checkFiles refuses a form with more files than h allows.
func (h *Handler) checkFiles(f *multipart.Form) error {
	limit := h.uploads.files
	if limit == 0 {
		limit = DefaultMaxUploadFiles
	}
	n := 0
	if f != nil {
		for _, fs := range f.File {
			n += len(fs)
		}
	}
	if n > limit {
		return errTooManyFiles(limit)
	}
	return nil
}

// uploadRefused returns the answer to a body refused for its files.
func uploadRefused(err error) (status int, msg string, ok bool) {
	if e, is := err.(errTooManyFiles); is {
		return http.StatusRequestEntityTooLarge, e.Error(), true
	}
	return 0, "", false
}
