// Package dkim holds the DKIM keys of a campaign (RFC 6376) and the DNS
// record that publishes one: it reads a private key from a PEM file,
// generates a new one and writes it where no file is, and formats the TXT
// record a receiver looks the public key up in. Signing is not here: compose
// signs each message with go-mail's signer.
//
// Keys are RSA of at least 2048 bits (RFC 8301) or Ed25519 (RFC 8463), in
// PKCS#1 ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY") PEM.
package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/net/idna"

	"github.com/mailmerge/mailmerge/internal/fsafe"
)

// MinRSABits is the shortest RSA key accepted: RFC 8301 makes verifiers
// refuse shorter ones, and Gmail asks for 2048.
const MinRSABits = 2048

// maxKeyFile bounds reading a key file: a PEM key of 8192 bits is under 7 kB.
const maxKeyFile = 64 << 10

// Key is a private signing key.
type Key struct {
	Signer crypto.Signer // *rsa.PrivateKey or ed25519.PrivateKey
	Type   string        // "rsa" or "ed25519", as the record's k= tag says
	Bits   int           // of an RSA key; 256 for Ed25519
}

// String is "RSA 2048" or "Ed25519".
func (k *Key) String() string {
	if k.Type == "ed25519" {
		return "Ed25519"
	}
	return fmt.Sprintf("RSA %d", k.Bits)
}

// Parse reads a PEM private key. It refuses what is not PEM, a key of
// another type and an RSA key shorter than MinRSABits.
func Parse(data []byte) (*Key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM key: no -----BEGIN PRIVATE KEY----- block")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("the key is encrypted with a passphrase; mailmerge needs it unencrypted, readable only by you")
	default:
		return nil, fmt.Errorf("a PEM %q block, not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s block: %w", block.Type, err)
	}
	return fromCrypto(key)
}

func fromCrypto(key any) (*Key, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < MinRSABits {
			return nil, fmt.Errorf("an RSA key of %d bits; DKIM needs at least %d", bits, MinRSABits)
		}
		return &Key{Signer: k, Type: "rsa", Bits: k.N.BitLen()}, nil
	case ed25519.PrivateKey:
		return &Key{Signer: k, Type: "ed25519", Bits: 256}, nil
	}
	return nil, fmt.Errorf("%s key; DKIM signs with RSA or Ed25519", keyKind(key))
}

// keyKind names a key type the way a user knows it, with its article.
func keyKind(key any) string {
	name := fmt.Sprintf("%T", key)
	switch {
	case strings.Contains(name, "ecdsa"):
		return "an ECDSA"
	case strings.Contains(name, "ecdh"):
		return "an ECDH"
	}
	return "a " + name
}

// Read reads the key in a file, which must be a regular file.
func Read(path string) (*Key, error) {
	f, _, err := fsafe.OpenRegular(path)
	if err != nil {
		return nil, fsafe.Cause(err)
	}
	defer f.Close()
	data, err := io.ReadAll(fsafe.LimitReader(f, maxKeyFile))
	if err != nil {
		return nil, fsafe.Cause(err)
	}
	return Parse(data)
}

// Generate makes a new key: kind "rsa" with bits (MinRSABits to 4096), or
// "ed25519".
func Generate(kind string, bits int) (*Key, error) {
	switch kind {
	case "rsa":
		if bits < MinRSABits || bits > 4096 {
			return nil, fmt.Errorf("%d bits: an RSA key for DKIM has 2048 to 4096 (longer ones do not fit a DNS record everywhere)", bits)
		}
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, err
		}
		return fromCrypto(k)
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return fromCrypto(k)
	}
	return nil, fmt.Errorf("key type %q: use rsa or ed25519", kind)
}

// PEM is the key in PKCS#8 PEM.
func (k *Key) PEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Create writes the key to a new file readable only by its owner. It never
// replaces a file: when path exists it writes nothing and the error is
// os.ErrExist. A write that fails removes the file it created.
func Create(path string, k *Key) error {
	data, err := k.PEM()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// Record is the DNS TXT record that publishes a key's public half.
type Record struct {
	Name  string // "selector._domainkey.example.com."
	Host  string // the name within the domain's zone: "selector._domainkey"
	Value string // "v=DKIM1; k=rsa; p=..."
}

// Record returns the record for domain and selector, which must be valid
// (see CheckDomain and CheckSelector).
func (k *Key) Record(domain, selector string) (Record, error) {
	var pub []byte
	switch p := k.Signer.Public().(type) {
	case ed25519.PublicKey:
		pub = p // RFC 8463: the raw 32 bytes
	default:
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			return Record{}, err
		}
		pub = der
	}
	return Record{
		Name:  selector + "._domainkey." + domain + ".",
		Host:  selector + "._domainkey",
		Value: "v=DKIM1; k=" + k.Type + "; p=" + base64.StdEncoding.EncodeToString(pub),
	}, nil
}

// maxTXTString is the longest character-string a TXT record holds; a
// longer value is several strings, which receivers join.
const maxTXTString = 255

// Zone is the record as a zone-file line, its value cut into quoted
// strings of at most 255 bytes.
func (r Record) Zone() string {
	var b strings.Builder
	b.WriteString(r.Name + " TXT")
	for v := r.Value; v != ""; {
		n := min(len(v), maxTXTString)
		b.WriteString(` "` + v[:n] + `"`)
		v = v[n:]
	}
	return b.String()
}

// CheckDomain reads the signing domain (d=), a name in DNS; an
// internationalised one comes back in its ASCII (punycode) form.
func CheckDomain(domain string) (string, error) {
	d := strings.TrimSuffix(strings.TrimSpace(domain), ".")
	ascii, err := idna.Lookup.ToASCII(d)
	if err != nil || !strings.Contains(ascii, ".") {
		return "", fmt.Errorf("%q is not a domain name such as example.com", domain)
	}
	return strings.ToLower(ascii), nil
}

// CheckSelector reads a selector (s=): DNS labels of letters, digits and
// hyphens, separated by dots.
func CheckSelector(selector string) error {
	if selector == "" {
		return errors.New("is empty")
	}
	for _, label := range strings.Split(selector, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a selector: letters, digits and hyphens, such as mail2026", selector)
		}
		for _, r := range label {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return fmt.Errorf("%q is not a selector: letters, digits and hyphens, such as mail2026", selector)
			}
		}
	}
	return nil
}
