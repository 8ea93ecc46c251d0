package dkim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func pemOf(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(t, "PRIVATE KEY", der)
}

// TestParse: RSA of 2048 bits and more in PKCS#1 or PKCS#8, and Ed25519,
// are keys; anything else is refused with the reason.
func TestParse(t *testing.T) {
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := x509.MarshalPKIXPublicKey(&rsa2048.PublicKey)

	for _, tc := range []struct {
		name string
		data []byte
		want string // key's String, or the error's text
	}{
		{"rsa pkcs1", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa2048)), "RSA 2048"},
		{"rsa pkcs8", pkcs8(t, rsa2048), "RSA 2048"},
		{"ed25519", pkcs8(t, ed), "Ed25519"},
		{"rsa 1024", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa1024)), "an RSA key of 1024 bits; DKIM needs at least 2048"},
		{"ecdsa", pkcs8(t, ec), "an ECDSA key; DKIM signs with RSA or Ed25519"},
		{"public", pemOf(t, "PUBLIC KEY", pub), `a PEM "PUBLIC KEY" block, not a private key`},
		{"encrypted", pemOf(t, "ENCRYPTED PRIVATE KEY", []byte{1}), "the key is encrypted with a passphrase; mailmerge needs it unencrypted, readable only by you"},
		{"not pem", []byte("v=DKIM1; k=rsa; p=MIIB"), "not a PEM key: no -----BEGIN PRIVATE KEY----- block"},
		{"damaged", pemOf(t, "PRIVATE KEY", []byte("not DER")), "PRIVATE KEY block: "},
	} {
		k, err := Parse(tc.data)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = k.String()
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestCreate: the key is written readable by its owner alone, reads back
// as the same key, and an existing file is never replaced.
func TestCreate(t *testing.T) {
	for _, kind := range []string{"rsa", "ed25519"} {
		k, err := Generate(kind, 2048)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "dkim.pem")
		if err := Create(path, k); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", kind, st.Mode().Perm())
		}
		back, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if back.String() != k.String() || !back.Signer.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Signer.Public()) {
			t.Errorf("%s: read back %s, a different key", kind, back)
		}
		before, _ := os.ReadFile(path)
		other, _ := Generate(kind, 2048)
		if err := Create(path, other); !errors.Is(err, os.ErrExist) {
			t.Errorf("%s: Create over an existing file: %v, want os.ErrExist", kind, err)
		}
		if after, _ := os.ReadFile(path); string(after) != string(before) {
			t.Errorf("%s: the existing key was changed", kind)
		}
	}
}

// TestReadRefusesAFolder: a key_file that is a folder or a FIFO is not read.
func TestReadRefusesAFolder(t *testing.T) {
	if _, err := Read(t.TempDir()); err == nil || !strings.Contains(err.Error(), "a folder") {
		t.Errorf("Read(folder) = %v, want an error saying it is a folder", err)
	}
}

// TestRecord: the record's p= is the public key (SubjectPublicKeyInfo for
// RSA, the raw 32 bytes for Ed25519), and Zone cuts it into strings of at
// most 255 bytes that join back to the value.
func TestRecord(t *testing.T) {
	for _, tc := range []struct {
		kind    string
		bits    int
		strings int
	}{{"rsa", 2048, 2}, {"rsa", 4096, 3}, {"ed25519", 0, 1}} {
		k, err := Generate(tc.kind, tc.bits)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := k.Record("example.com", "mail2026")
		if err != nil {
			t.Fatal(err)
		}
		if rec.Name != "mail2026._domainkey.example.com." || rec.Host != "mail2026._domainkey" {
			t.Errorf("name %q, host %q", rec.Name, rec.Host)
		}
		p, ok := strings.CutPrefix(rec.Value, "v=DKIM1; k="+tc.kind+"; p=")
		if !ok {
			t.Fatalf("value %q", rec.Value)
		}
		der, err := base64.StdEncoding.DecodeString(p)
		if err != nil {
			t.Fatal(err)
		}
		switch pub := k.Signer.Public().(type) {
		case ed25519.PublicKey:
			if !pub.Equal(ed25519.PublicKey(der)) {
				t.Error("ed25519: p= is not the public key")
			}
		case *rsa.PublicKey:
			got, err := x509.ParsePKIXPublicKey(der)
			if err != nil || !pub.Equal(got) {
				t.Errorf("rsa: p= is not the public key: %v", err)
			}
		}
		zone := rec.Zone()
		parts := regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(zone, -1)
		var joined strings.Builder
		for _, m := range parts {
			if len(m[1]) > 255 {
				t.Errorf("%s %d: a string of %d bytes", tc.kind, tc.bits, len(m[1]))
			}
			joined.WriteString(m[1])
		}
		if len(parts) != tc.strings || joined.String() != rec.Value || !strings.HasPrefix(zone, rec.Name+" TXT \"") {
			t.Errorf("%s %d: zone line %q: %d strings, want %d, joining to the value", tc.kind, tc.bits, zone, len(parts), tc.strings)
		}
	}
}

func TestCheckDomainAndSelector(t *testing.T) {
	for in, want := range map[string]string{"Example.COM": "example.com", "例子.中国": "xn--fsqu00a.xn--fiqs8s", "news.example.com.": "news.example.com"} {
		if got, err := CheckDomain(in); err != nil || got != want {
			t.Errorf("CheckDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "localhost", "exa mple.com", "a_b.com", "nami@example.com"} {
		if _, err := CheckDomain(bad); err == nil {
			t.Errorf("CheckDomain(%q) accepted", bad)
		}
	}
	for _, good := range []string{"mail2026", "s1.eu-west", "2026-01"} {
		if err := CheckSelector(good); err != nil {
			t.Errorf("CheckSelector(%q): %v", good, err)
		}
	}
	for _, bad := range []string{"", "mail 2026", "a_b", "-x", "a..b", "x;y=1"} {
		if err := CheckSelector(bad); err == nil {
			t.Errorf("CheckSelector(%q) accepted", bad)
		}
	}
}
