// Package templates renders gateway pages from view.Page values with html/template: a
// shared layout and partials, one template file per state family, all embedded, each
// replaceable by a file of the same name in an override directory.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hankogate/hankogate/flowproxy/view"
)

//go:embed *.html
var pageFiles embed.FS

//go:embed assets
var assetFiles embed.FS

// Assets holds the static files the gateway serves under <prefix>/assets/.
var Assets fs.FS = mustSub(assetFiles, "assets")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // dir is a literal embedded above
	}
	return sub
}

// sharedFiles are parsed into every page; each family file then defines "content".
var sharedFiles = []string{"layout.html", "partials.html"}

// Renderer renders pages; it is safe for concurrent use.
type Renderer struct {
	pages map[string]*template.Template // by family
}

// New parses the embedded templates, replacing any of them by the file of the same name in
// overrideDir ("" for none), and renders a sample of every family once so that a broken
// override is reported at start-up, naming the file, rather than on a user's request.
func New(overrideDir string) (*Renderer, error) {
	if overrideDir != "" {
		if info, err := os.Stat(overrideDir); err != nil {
			return nil, fmt.Errorf("templates: override dir: %w", err)
		} else if !info.IsDir() {
			return nil, fmt.Errorf("templates: override dir %s is not a directory", overrideDir)
		}
	}
	sources := map[string]source{}
	for _, name := range append(slices.Clone(sharedFiles), familyFiles()...) {
		src, err := load(overrideDir, name)
		if err != nil {
			return nil, err
		}
		sources[name] = src
	}
	base := template.New("base")
	for _, name := range sharedFiles {
		if _, err := base.New(name).Parse(sources[name].text); err != nil {
			return nil, fmt.Errorf("templates: parse %s: %w", sources[name].origin, err)
		}
	}
	r := &Renderer{pages: make(map[string]*template.Template, len(view.Families()))}
	for _, family := range view.Families() {
		src := sources[family+".html"]
		t, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", src.origin, err)
		}
		if _, err := t.New(family + ".html").Parse(src.text); err != nil {
			return nil, fmt.Errorf("templates: parse %s: %w", src.origin, err)
		}
		r.pages[family] = t
	}
	for _, family := range view.Families() {
		if err := r.Render(io.Discard, sample(family)); err != nil {
			return nil, fmt.Errorf("templates: %s (with %s): %w", sources[family+".html"].origin,
				filesOrigin(sources, sharedFiles), err)
		}
	}
	return r, nil
}

// Render writes the page. Output is produced in full before anything is written, so a
// failing template leaves w untouched and the caller can still send an error page.
func (r *Renderer) Render(w io.Writer, p *view.Page) error {
	if p == nil {
		return errors.New("render: nil page")
	}
	t, ok := r.pages[p.Template]
	if !ok {
		t = r.pages["generic"]
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		return fmt.Errorf("render %s: %w", p.Template, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("render %s: write: %w", p.Template, err)
	}
	return nil
}

type source struct{ text, origin string }

// load reads one template file from the override directory if it has it, else embedded.
func load(overrideDir, name string) (source, error) {
	if overrideDir != "" {
		path := filepath.Join(overrideDir, name)
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			return source{string(b), path}, nil
		case !errors.Is(err, fs.ErrNotExist):
			return source{}, fmt.Errorf("templates: read %s: %w", path, err)
		}
	}
	b, err := pageFiles.ReadFile(name)
	if err != nil {
		return source{}, fmt.Errorf("templates: embedded %s: %w", name, err)
	}
	return source{string(b), "embedded " + name}, nil
}

func familyFiles() []string {
	out := make([]string, 0, len(view.Families()))
	for _, f := range view.Families() {
		out = append(out, f+".html")
	}
	return out
}

func filesOrigin(sources map[string]source, names []string) string {
	origins := make([]string, 0, len(names))
	for _, n := range names {
		origins = append(origins, sources[n].origin)
	}
	return strings.Join(origins, ", ")
}
