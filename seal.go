package liveflux

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
)

// SealedParams is implemented by a component whose Mount takes parameters
// only the server may set: a user's ID read from an HttpOnly cookie, a
// tenant, a price. SealedParams returns their names.
//
// Mount parameters are written into the page as data-flux-param-*
// attributes, so that the client can mount the component again from them
// when the server lost the instance (it expired, the server restarted).
// Anything in them can be read by the page's scripts, and a client can
// mount any kind with any parameters it likes. Sealed parameters are not
// written in plain: Handler.Mount encrypts and authenticates them
// (AES-GCM, with the handler's key, bound to the kind and to the session
// when WithSessionKey is set) into one data-flux-sealed attribute, which
// the client sends back as it is to mount the component again. So Mount
// can trust them: they came from the server, for this kind and session.
// A mount that names a sealed parameter in plain (a Placeholder, a
// forged request) is refused with 400, and sealed values that do not
// open (another key, another session, altered) with 400 too.
//
// The key is random per handler unless WithParamKey gives one: sealed
// values then open only in the process that sealed them, which is enough
// with one process and MemoryStore (a restart loses the instances too).
// Nodes that share a store need the same key.
type SealedParams interface {
	Component
	SealedParams() []string
}

// WithParamKey sets the keys that seal the mount parameters components
// declare sealed (SealedParams): the first seals, any opens, so that keys
// can be changed without breaking the pages already out (list the new one
// first). Each key must be at least 32 random bytes; use the same keys on
// every node of an application. A shorter key panics. Defaults to a
// random key per handler.
func WithParamKey(keys ...[]byte) HandlerOption {
	var aeads []cipher.AEAD
	for _, k := range keys {
		if len(k) < 32 {
			panic("liveflux: WithParamKey: a key must be at least 32 bytes")
		}
		aeads = append(aeads, newSealer(k))
	}
	return func(h *Handler) {
		if len(aeads) > 0 {
			h.sealers = aeads
		}
	}
}

// newSealer derives an AES-256-GCM key from secret.
func newSealer(secret []byte) cipher.AEAD {
	key, err := hkdf.Key(sha256.New, secret, nil, "liveflux sealed mount parameters", 32)
	if err != nil {
		panic("liveflux: deriving the parameter key: " + err.Error())
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("liveflux: " + err.Error())
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("liveflux: " + err.Error())
	}
	return aead
}

// randomSealers returns the default sealer: a random key.
func randomSealers() []cipher.AEAD {
	var k [32]byte
	rand.Read(k[:])
	return []cipher.AEAD{newSealer(k[:])}
}

// sealAD is the additional data sealed values are bound to.
func sealAD(kind, owner string) []byte { return []byte("liveflux\x00" + kind + "\x00" + owner) }

// seal encrypts params for kind and owner.
func (h *Handler) seal(params map[string]string, kind, owner string) string {
	plain, _ := json.Marshal(params)
	a := h.sealers[0]
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(a.Seal(nonce, nonce, plain, sealAD(kind, owner)))
}

// unseal opens what seal made.
func (h *Handler) unseal(s, kind, owner string) (map[string]string, error) {
	bad := NewError(http.StatusBadRequest, "sealed parameters do not open (another key, another session, or altered)")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	for _, a := range h.sealers {
		if len(raw) < a.NonceSize() {
			continue
		}
		plain, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], sealAD(kind, owner))
		if err != nil {
			continue
		}
		var params map[string]string
		if json.Unmarshal(plain, &params) != nil {
			return nil, bad
		}
		return params, nil
	}
	return nil, bad
}

// mountParams sorts the parameters of mount m of c: which the page sees
// (data-flux-param-*), which are sealed, and what Mount gets (m.params,
// with the sealed ones opened). It returns the root's extra attributes.
func (h *Handler) mountParams(c Component, m *mountRequest) (*rootExtras, error) {
	root := &rootExtras{params: m.params, url: livesInURL(c)}
	sp, ok := c.(SealedParams)
	if !ok {
		return root, nil
	}
	names := sp.SealedParams()
	if m.trusted {
		plain, sealed := map[string]string{}, map[string]string{}
		for k, v := range m.params {
			if slices.Contains(names, k) {
				sealed[k] = v
			} else {
				plain[k] = v
			}
		}
		root.params = plain
		if len(sealed) > 0 {
			root.sealed = h.seal(sealed, m.kind, m.owner)
		}
		return root, nil
	}
	for _, k := range names {
		if _, ok := m.params[k]; ok {
			return nil, NewError(http.StatusBadRequest, fmt.Sprintf("mount parameter %q of %s is sealed: only the server sets it (mount the component with Handler.Mount)", k, m.kind))
		}
	}
	if m.sealed == "" {
		return root, nil
	}
	opened, err := h.unseal(m.sealed, m.kind, m.owner)
	if err != nil {
		return nil, err
	}
	all := make(map[string]string, len(m.params)+len(opened))
	for k, v := range m.params {
		all[k] = v
	}
	for k, v := range opened {
		if slices.Contains(names, k) {
			all[k] = v
		}
	}
	m.params, root.sealed = all, m.sealed
	return root, nil
}
