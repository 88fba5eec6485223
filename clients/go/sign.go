package switchyard

// sign.go: Ed25519 signing with a key file written by `switchyard keygen`
// (envelope/keyfile.c): "secret <key id> ed25519:<base64 of libsodium's
// 64-byte secret key>", mode 0600. The signature covers the exact body
// bytes sent and travels in the Sy-Key-Id and Sy-Signature headers.

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"regexp"
)

// SigningKey signs event bodies.
type SigningKey struct {
	KeyID string
	key   ed25519.PrivateKey
}

// Sign returns the base64 signature (Sy-Signature) of exactly body.
func (k *SigningKey) Sign(body []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(k.key, body))
}

// KeyFileError says why a key file cannot be used.
type KeyFileError struct {
	Path, Message string
}

func (e *KeyFileError) Error() string { return e.Message }

// SigningKeyFromSecret builds a key from libsodium's 64-byte secret key
// (seed, then public key), checking that the two halves belong together.
func SigningKeyFromSecret(keyID string, secret []byte) (*SigningKey, error) {
	if len(secret) != ed25519.PrivateKeySize {
		return nil, &KeyFileError{"", "an Ed25519 secret key is 64 bytes"}
	}
	k := ed25519.NewKeyFromSeed(secret[:32])
	if !bytes.Equal(k[32:], secret[32:]) {
		return nil, &KeyFileError{"", "the secret key's public half does not match its seed"}
	}
	return &SigningKey{KeyID: keyID, key: k}, nil
}

var secretLine = regexp.MustCompile(`^secret (\S{1,64}) ed25519:(\S+)`)

// LoadSigningKey reads a key file of `switchyard keygen`; a file that group
// or others may read is refused, as envelope_sign does.
func LoadSigningKey(path string) (*SigningKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, &KeyFileError{path, fmt.Sprintf("could not open %q: %v", path, err)}
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, &KeyFileError{path, fmt.Sprintf("secret key file %q is accessible by group or others (chmod 600)", path)}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &KeyFileError{path, fmt.Sprintf("could not open %q: %v", path, err)}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := secretLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		sk, err := base64.StdEncoding.DecodeString(m[2])
		if err != nil || len(sk) != 64 {
			break
		}
		k, err := SigningKeyFromSecret(m[1], sk)
		for i := range sk {
			sk[i] = 0
		}
		return k, err
	}
	return nil, &KeyFileError{path, fmt.Sprintf("no \"secret <id> ed25519:<key>\" line in %q", path)}
}
