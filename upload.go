package liveflux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// File uploads. The client sends a form that holds an <input type=file>
// with files in it as multipart/form-data over HTTP, even while the page's
// socket is open (the update that answers it still reaches every watcher),
// and reports the upload's progress. Handle reads the files with
// FormFiles; the other fields arrive in its url.Values as usual. Files
// are read into memory up to the body limit (WithMaxBodyBytes), and to
// temporary files past it, which are removed once the request is answered:
// copy what you keep before Handle returns. The plain fields of a
// multipart body count toward the body limit, not the upload limit.

// DefaultMaxUploadFiles is how many files one action may send by default.
const DefaultMaxUploadFiles = 10

// uploadLimits bound what one multipart POST may carry.
type uploadLimits struct {
	bytes int64 // the body, files and fields; 0: the body limit
	files int   // 0: DefaultMaxUploadFiles
}

// WithMaxUploadBytes limits the size of a multipart POST body (an action
// with files, its other fields included); a larger one is refused with 413
// and "request body over N bytes". Its plain fields still count toward the
// body limit (WithMaxBodyBytes): more are refused with 413 and "form
// fields over N bytes". Defaults to the body limit (1 MiB): raise it to
// accept larger files.
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

// uploadRefusal is why a multipart body was refused for what it carries
// (413): more files, or more bytes of plain fields, than allowed.
type uploadRefusal string

func (e uploadRefusal) Error() string { return string(e) }

// maxParts bounds the parts of a multipart body, as
// multipart.Reader.ReadForm does.
const maxParts = 1000

// readMultipart reads a multipart/form-data body with the given boundary:
// its plain fields, which count toward the body limit (WithMaxBodyBytes)
// as those of a url-encoded body do, whatever the upload limit; and its
// files, at most WithMaxUploadFiles of them, kept in memory up to the body
// limit and in temporary files past it. It sets r.MultipartForm.
func (h *Handler) readMultipart(r *http.Request, boundary string) (url.Values, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, err
	}
	form := &multipart.Form{Value: url.Values{}, File: map[string][]*multipart.FileHeader{}}
	r.MultipartForm = form
	fields, files, memory := int64(0), 0, h.maxBody
	for parts := 0; ; parts++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			return form.Value, nil
		}
		if err != nil {
			return nil, err
		}
		if parts == maxParts {
			return nil, multipart.ErrMessageTooLarge
		}
		name := p.FormName()
		if name == "" {
			continue
		}
		if p.FileName() == "" {
			v, err := io.ReadAll(io.LimitReader(p, h.maxBody-fields+1))
			if err != nil {
				return nil, err
			}
			if fields += int64(len(name) + len(v)); fields > h.maxBody {
				return nil, uploadRefusal(fmt.Sprintf("form fields over %d bytes", h.maxBody))
			}
			form.Value[name] = append(form.Value[name], string(v))
			continue
		}
		if files++; files > h.maxFiles() {
			return nil, uploadRefusal(fmt.Sprintf("more than %d files", h.maxFiles()))
		}
		fh, err := fileHeader(p, boundary, memory)
		if err != nil {
			return nil, err
		}
		form.File[name] = append(form.File[name], fh)
		memory -= min(fh.Size, memory)
	}
}

// fileHeader reads the file part p into a *multipart.FileHeader, in memory
// up to mem bytes and in a temporary file past them. Only
// multipart.Reader.ReadForm makes FileHeaders (FormFiles hands them to
// Handle), so p is handed to one as a body of its own: its headers, its
// content, and the closing boundary. Its content cannot hold the boundary:
// the outer reader ended it there.
func fileHeader(p *multipart.Part, boundary string, mem int64) (*multipart.FileHeader, error) {
	var head bytes.Buffer
	head.WriteString("--" + boundary + "\r\n")
	for k, vs := range p.Header {
		for _, v := range vs {
			head.WriteString(k + ": " + v + "\r\n")
		}
	}
	head.WriteString("\r\n")
	body := io.MultiReader(&head, p, strings.NewReader("\r\n--"+boundary+"--\r\n"))
	f, err := multipart.NewReader(body, boundary).ReadForm(mem)
	if err != nil {
		return nil, err
	}
	for _, fhs := range f.File {
		return fhs[0], nil
	}
	return nil, errors.New("multipart: a file part without a file")
}

// maxFiles is how many files one action may send.
func (h *Handler) maxFiles() int {
	if h.uploads.files == 0 {
		return DefaultMaxUploadFiles
	}
	return h.uploads.files
}
