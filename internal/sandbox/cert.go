package sandbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// throwawayCA is a certificate authority that lives as long as one server:
// its key is never written anywhere, so trusting it trusts nothing else.
type throwawayCA struct {
	pool *x509.CertPool
	pem  []byte
	leaf tls.Certificate // for localhost, 127.0.0.1 and ::1
}

// newThrowawayCA generates an ECDSA P-256 CA and a server certificate it
// signs. The validity is long because a slow campaign may reconnect days
// after the sandbox started; the keys die with the process anyway.
func newThrowawayCA() (*throwawayCA, error) {
	ca, caKey, err := issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "mailmerge sandbox CA", Organization: []string{"mailmerge sandbox"}},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("sandbox CA: %w", err)
	}
	leaf, key, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost", Organization: []string{"mailmerge sandbox"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}, ca, caKey)
	if err != nil {
		return nil, fmt.Errorf("sandbox server certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &throwawayCA{
		pool: pool,
		pem:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
		leaf: tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf},
	}, nil
}

// issue generates a P-256 key and a certificate for it from tmpl, signed by
// parent, or self-signed when parent is nil.
func issue(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	now := time.Now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-time.Hour) // tolerate a client clock slightly behind
	tmpl.NotAfter = now.AddDate(1, 0, 0)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// serial returns a random 128-bit certificate serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}
