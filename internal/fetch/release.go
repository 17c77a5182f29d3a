package fetch

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// release is the verified content of an InRelease file.
type release struct {
	Suite, Codename string
	Date            string
	AcquireByHash   bool
	SHA256          map[string]indexFile // path relative to dists/<suite>/
}

type indexFile struct {
	SHA256 string
	Size   int64
}

// loadKeyring reads a binary OpenPGP keyring, as Debian ships them in
// /usr/share/keyrings (not ASCII-armoured).
func loadKeyring(path string) (openpgp.EntityList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read keyring: %w", err)
	}
	defer f.Close()
	kr, err := openpgp.ReadKeyRing(f)
	if err != nil {
		return nil, fmt.Errorf("read keyring %s: %w", path, err)
	}
	if len(kr) == 0 {
		return nil, fmt.Errorf("read keyring %s: no keys", path)
	}
	return kr, nil
}

// verifyInRelease checks the clearsigned InRelease against keyring and
// returns its parsed content. Suites are signed by several keys (e.g. sid by
// the bookworm and trixie automatic signing keys); one signature from a key in
// the keyring is enough, signatures by unknown keys are skipped. now pins the
// time used for key and signature expiry. Valid-Until is not enforced:
// snapshot-style mirrors serve expired indexes (sid's here expired weeks ago)
// and the signature still proves the content came from the archive.
func verifyInRelease(data []byte, keyring openpgp.KeyRing, suite string, now time.Time) (*release, error) {
	block, rest := clearsign.Decode(data)
	if block == nil {
		return nil, &IntegrityError{What: "InRelease " + suite, Err: fmt.Errorf("not a clearsigned message")}
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, &IntegrityError{What: "InRelease " + suite, Err: fmt.Errorf("trailing data after signature")}
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	if _, err := block.VerifySignature(keyring, cfg); err != nil {
		return nil, &IntegrityError{What: "InRelease " + suite, Err: fmt.Errorf("bad signature: %w", err)}
	}
	r, err := parseRelease(block.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("parse InRelease %s: %w", suite, err)
	}
	if r.Suite != suite && r.Codename != suite {
		// A validly signed index of another suite (replay / wrong redirect).
		return nil, &IntegrityError{What: "InRelease " + suite, Err: fmt.Errorf("signed for suite %q (codename %q)", r.Suite, r.Codename)}
	}
	return r, nil
}

func parseRelease(text []byte) (*release, error) {
	r := &release{SHA256: map[string]indexFile{}}
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	inSHA := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if line[0] == ' ' {
			if !inSHA {
				continue
			}
			f := strings.Fields(line)
			if len(f) != 3 {
				return nil, fmt.Errorf("malformed SHA256 line %q", line)
			}
			size, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("malformed SHA256 line %q", line)
			}
			r.SHA256[f[2]] = indexFile{SHA256: f[0], Size: size}
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		inSHA = k == "SHA256"
		switch k {
		case "Suite":
			r.Suite = v
		case "Codename":
			r.Codename = v
		case "Date":
			r.Date = v
		case "Acquire-By-Hash":
			r.AcquireByHash = v == "yes"
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(r.SHA256) == 0 {
		return nil, fmt.Errorf("no SHA256 index list")
	}
	return r, nil
}
