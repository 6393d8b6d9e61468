// Command krewrender renders the krew-release-bot template .krew.yaml for a
// version, taking each archive's sha256 from a local dist directory, so the
// manifest can be validated and installed offline:
//
//	go run ./hack/krewrender -version 0.1.0 -dist dist > dist/acknet.yaml
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

var addURIRe = regexp.MustCompile(`\{\{\s*addURIAndSha "(.*?)" \.TagName\s*\}\}`)

func main() {
	version := flag.String("version", "", "release version without the v")
	dist := flag.String("dist", "dist", "directory with the archives")
	tmpl := flag.String("template", ".krew.yaml", "krew-release-bot template")
	flag.Parse()
	if err := render(os.Stdout, *tmpl, *version, *dist); err != nil {
		fmt.Fprintln(os.Stderr, "krewrender:", err)
		os.Exit(1)
	}
}

func render(w io.Writer, tmpl, version, dist string) error {
	if version == "" {
		return fmt.Errorf("-version is required")
	}
	b, err := os.ReadFile(tmpl)
	if err != nil {
		return err
	}
	tag := "v" + version
	text := strings.ReplaceAll(string(b), `{{ .TagName | trimPrefix \"v\" }}`, version)
	var renderErr error
	text = addURIRe.ReplaceAllStringFunc(text, func(m string) string {
		url := strings.ReplaceAll(addURIRe.FindStringSubmatch(m)[1], "{{ .TagName }}", tag)
		sum, err := sha256File(filepath.Join(dist, path.Base(url)))
		if err != nil && renderErr == nil {
			renderErr = err
		}
		return fmt.Sprintf("uri: %s\n    sha256: %q", url, sum)
	})
	text = strings.ReplaceAll(text, "{{ .TagName }}", tag)
	if renderErr != nil {
		return renderErr
	}
	if strings.Contains(text, "{{") {
		return fmt.Errorf("unrendered template left in %s", tmpl)
	}
	_, err = io.WriteString(w, text)
	return err
}

func sha256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
