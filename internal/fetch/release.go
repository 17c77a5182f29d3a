package fetch

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
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
// the bookworm and trixie automatic signing keys): every signature by a key
// in the keyring must verify, at least one must exist, and signatures by keys
// the keyring lacks (a newer release's key on an older machine) are skipped. now pins the
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
	if err := verifyAllSignatures(block, keyring, now); err != nil {
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

// verifyAllSignatures checks each signature packet of a clearsigned block on
// its own. go-crypto's Block.VerifySignature stops at the first signature
// whose issuer is in the keyring, so a broken second signature would pass.
func verifyAllSignatures(block *clearsign.Block, keyring openpgp.KeyRing, now time.Time) error {
	sigs, err := io.ReadAll(block.ArmoredSignature.Body)
	if err != nil {
		return fmt.Errorf("read signature: %w", err)
	}
	parts, err := splitPackets(sigs)
	if err != nil {
		return err
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	good := 0
	for _, p := range parts {
		_, _, err := openpgp.VerifyDetachedSignature(keyring, bytes.NewReader(block.Bytes), bytes.NewReader(p), cfg)
		switch {
		case err == nil:
			good++
		case errors.Is(err, pgperrors.ErrUnknownIssuer):
		default:
			return err
		}
	}
	if good == 0 {
		return fmt.Errorf("no signature by a key in the keyring (%d signatures)", len(parts))
	}
	return nil
}

// splitPackets splits a binary OpenPGP packet sequence (RFC 4880 section 4.2)
// into single packets. Partial body lengths do not occur in signatures.
func splitPackets(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		tag := b[0]
		if tag&0x80 == 0 {
			return nil, errors.New("malformed signature packet")
		}
		var hdr, n int
		if tag&0x40 != 0 { // new format
			if len(b) < 2 {
				return nil, errors.New("short signature packet")
			}
			switch l := int(b[1]); {
			case l < 192:
				hdr, n = 2, l
			case l < 224:
				if len(b) < 3 {
					return nil, errors.New("short signature packet")
				}
				hdr, n = 3, (l-192)<<8+int(b[2])+192
			case l == 255:
				if len(b) < 6 {
					return nil, errors.New("short signature packet")
				}
				hdr, n = 6, int(binary.BigEndian.Uint32(b[2:6]))
			default:
				return nil, errors.New("partial-length signature packet")
			}
		} else { // old format
			switch tag & 3 {
			case 0:
				hdr = 2
			case 1:
				hdr = 3
			case 2:
				hdr = 5
			default:
				return nil, errors.New("indeterminate-length signature packet")
			}
			if len(b) < hdr {
				return nil, errors.New("short signature packet")
			}
			for _, c := range b[1:hdr] {
				n = n<<8 | int(c)
			}
		}
		if n < 0 || len(b) < hdr+n {
			return nil, errors.New("truncated signature packet")
		}
		out = append(out, b[:hdr+n])
		b = b[hdr+n:]
	}
	return out, nil
}
