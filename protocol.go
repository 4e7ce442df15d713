package liveflux

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
)

// WebSocketMessage is the envelope of every WebSocket frame, both ways.
type WebSocketMessage struct {
	Type        string          `json:"type"`
	ComponentID string          `json:"componentID"`
	Action      string          `json:"action,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
}

// encodeJSON encodes v without escaping <, > and & (the client parses it as
// JSON, never as HTML) and without a trailing newline.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

type urlData struct {
	URL string `json:"url"`
}

type serverMessage struct {
	Type        string `json:"type"`
	ComponentID string `json:"componentID"`
	Data        any    `json:"data,omitempty"`
	Message     string `json:"message,omitempty"`
	Code        int    `json:"code,omitempty"`
}

// encodeMessage encodes a message of the server. It cannot fail: every
// field is a string, a number or one of the data types above.
func encodeMessage(m serverMessage) []byte {
	b, err := encodeJSON(m)
	if err != nil {
		panic("liveflux: encoding a server message: " + err.Error())
	}
	return b
}

// encodeUpdate encodes the update message of a full rendering. It writes
// the JSON itself, as encodeMessage would (a large rendering is sent to
// every watcher that cannot take a diff, and encoding/json costs it
// several times as much).
func encodeUpdate(id string, html []byte) []byte {
	b := make([]byte, 0, len(html)+len(id)+64)
	b = append(b, `{"type":"`+MessageUpdate+`","componentID":`...)
	b = appendJSONString(b, []byte(id))
	b = append(b, `,"data":{"html":`...)
	b = appendJSONString(b, html)
	return append(b, "}}"...)
}

func encodeError(id string, code int, message string) []byte {
	return encodeMessage(serverMessage{Type: MessageError, ComponentID: id, Message: message, Code: code})
}

// decodeFields turns an action's data (a JSON object whose values are
// strings or arrays of strings) into url.Values.
func decodeFields(data json.RawMessage) (url.Values, error) {
	if len(data) == 0 || string(data) == "null" {
		return url.Values{}, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, errors.New("data must be an object")
	}
	vals := make(url.Values, len(raw))
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			vals[k] = []string{s}
			continue
		}
		var ss []string
		if err := json.Unmarshal(v, &ss); err != nil {
			return nil, errors.New("data field " + strconv.Quote(k) + " must be a string or an array of strings")
		}
		vals[k] = ss
	}
	return vals, nil
}

type eventData struct {
	Name   string          `json:"name"`
	Detail json.RawMessage `json:"detail,omitempty"`
}

// encodeEvent encodes an event a component emitted, for its page.
func encodeEvent(id string, e Event) []byte {
	return encodeMessage(serverMessage{Type: MessageEvent, ComponentID: id, Data: eventData(e)})
}
