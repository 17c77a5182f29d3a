package fetch

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// aptMirrors is what the machine's apt sources say about the Debian archive.
type aptMirrors struct {
	Archive  string // first "deb" entry with a suite not ending in -security
	Security string // first "deb" entry with a suite ending in -security
	// ArchiveSuite and SecuritySuite are the suites those entries name
	// first (bookworm, bookworm-security): the release this machine's own
	// packages come from.
	ArchiveSuite, SecuritySuite string
	// Foreign is the first http(s) entry skipped because it is not a
	// Debian archive ("http://archive.ubuntu.com/ubuntu noble"), named in
	// the error when no Debian mirror is configured.
	Foreign string
}

// readAptSources reads aptDir/sources.list, aptDir/sources.list.d/*.list
// (one-line format) and aptDir/sources.list.d/*.sources (deb822), in the
// order apt reads them. Missing files are not an error: a machine without
// apt sources simply has no default mirror.
func readAptSources(aptDir string) aptMirrors {
	var m aptMirrors
	files := []string{filepath.Join(aptDir, "sources.list")}
	d, _ := os.ReadDir(filepath.Join(aptDir, "sources.list.d"))
	var names []string
	for _, e := range d {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasSuffix(n, ".list") || strings.HasSuffix(n, ".sources") {
			files = append(files, filepath.Join(aptDir, "sources.list.d", n))
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var entries []aptEntry
		if strings.HasSuffix(f, ".sources") {
			entries = parseDeb822Sources(data)
		} else {
			entries = parseOneLineSources(data)
		}
		for _, e := range entries {
			m.add(e)
		}
	}
	return m
}

type aptEntry struct {
	URIs   []string
	Suites []string
}

func (m *aptMirrors) add(e aptEntry) {
	for _, u := range e.URIs {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			continue // cdrom:, file:, mirror+file: cannot serve our downloads
		}
		u = strings.TrimRight(u, "/")
		for _, s := range e.Suites {
			if !isDebianArchive(u, s) {
				// Name the distribution's own archive rather than a
				// third-party entry read before it (sources.list.d is read
				// in name order: microsoft-prod.list before ubuntu.sources).
				if m.Foreign == "" || (!isUbuntuHost(hostOf(m.Foreign)) && isUbuntuHost(hostOf(u))) {
					m.Foreign = u + " " + s
				}
				continue
			}
			if strings.HasSuffix(s, "-security") || strings.HasSuffix(s, "/updates") {
				if m.Security == "" {
					m.Security, m.SecuritySuite = u, s
				}
			} else if m.Archive == "" {
				m.Archive, m.ArchiveSuite = u, s
			}
		}
	}
}

// debianCodenames are Debian's release codenames and suite aliases
// (https://wiki.debian.org/DebianReleases); a suite is Debian's when its
// name with a -security, -updates, -backports(-sloppy), -proposed-updates
// or /updates suffix removed is one of them.
var debianCodenames = map[string]bool{
	"buzz": true, "rex": true, "bo": true, "hamm": true, "slink": true, "potato": true, "woody": true,
	"sarge": true, "etch": true, "lenny": true, "squeeze": true, "wheezy": true, "jessie": true,
	"stretch": true, "buster": true, "bullseye": true, "bookworm": true, "trixie": true, "forky": true,
	"duke": true, "sid": true, "experimental": true, "rc-buggy": true,
	"oldoldstable": true, "oldstable": true, "stable": true, "testing": true, "unstable": true,
}

// isDebianArchive says whether an apt entry can serve the catalog's Debian
// suites: its suite is a Debian one and its host is not Ubuntu's (whose
// archive has no Debian suites: a GitHub-hosted runner's sources name
// archive.ubuntu.com, azure.archive.ubuntu.com or ports.ubuntu.com) nor a
// Launchpad PPA.
func isDebianArchive(uri, suite string) bool {
	if host := hostOf(uri); isUbuntuHost(host) || strings.HasPrefix(host, "ppa.launchpad") {
		return false
	}
	base := suite
	for _, suffix := range []string{"/updates", "-security", "-updates", "-backports-sloppy", "-backports", "-proposed-updates"} {
		if strings.HasSuffix(base, suffix) {
			base = strings.TrimSuffix(base, suffix)
			break
		}
	}
	return debianCodenames[base]
}

func isUbuntuHost(host string) bool {
	return host == "ubuntu.com" || strings.HasSuffix(host, ".ubuntu.com")
}

// hostOf returns the lower-case host of an apt URI ("" if none).
func hostOf(uri string) string {
	host := uri
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	if i := strings.IndexAny(host, "/: "); i >= 0 {
		host = host[:i]
	}
	return strings.ToLower(host)
}

// parseDeb822Sources parses the deb822 format (sources.list(5), "DEB822-STYLE
// FORMAT"): paragraphs separated by blank lines, '#' comments, continuation
// lines starting with white space.
func parseDeb822Sources(data []byte) []aptEntry {
	var out []aptEntry
	for _, para := range bytes.Split(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\n\n")) {
		fields := map[string]string{}
		var last string
		sc := bufio.NewScanner(bytes.NewReader(para))
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(strings.TrimSpace(line), "#") || strings.TrimSpace(line) == "" {
				continue
			}
			if line[0] == ' ' || line[0] == '\t' {
				if last != "" {
					fields[last] += " " + strings.TrimSpace(line)
				}
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
		if !contains(strings.Fields(fields["types"]), "deb") || strings.EqualFold(fields["enabled"], "no") {
			continue
		}
		out = append(out, aptEntry{URIs: strings.Fields(fields["uris"]), Suites: strings.Fields(fields["suites"])})
	}
	return out
}

// parseOneLineSources parses "deb [options] uri suite [component...]" lines.
func parseOneLineSources(data []byte) []aptEntry {
	var out []aptEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) < 2 {
			continue
		}
		out = append(out, aptEntry{URIs: []string{f[0]}, Suites: []string{f[1]}})
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
