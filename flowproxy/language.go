package flowproxy

import (
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/hankogate/hankogate/flowproxy/access"
	"github.com/hankogate/hankogate/flowproxy/cookies"
	"github.com/hankogate/hankogate/flowproxy/view"
)

// langParam on any gateway page switches its language (and remembers the choice in the
// language cookie); without a choice the browser's Accept-Language decides.
const langParam = "lang"

// langCookieTTL keeps a language choice for a year.
const langCookieTTL = 365 * 24 * time.Hour

// chosenLanguage returns the language the user picked (the lang parameter, else the
// language cookie) when the catalogue has it, else "".
func (g *Gateway) chosenLanguage(r *http.Request) string {
	if l := r.URL.Query().Get(langParam); l != "" && g.cfg.Messages.Has(l) {
		return l
	}
	if v, ok := cookies.Value(r.Header, g.names.lang); ok && g.cfg.Messages.Has(v) {
		return v
	}
	return ""
}

// language is the language of the request's pages.
func (g *Gateway) language(r *http.Request) string {
	if l := g.chosenLanguage(r); l != "" {
		return l
	}
	return g.cfg.Messages.Match(r.Header.Get("Accept-Language"))
}

// rememberLanguage stores a language picked with the lang parameter in the language cookie.
// The value is only ever a tag of the catalogue (checked again when read).
func (g *Gateway) rememberLanguage(w http.ResponseWriter, r *http.Request) {
	l := r.URL.Query().Get(langParam)
	if l == "" || !g.cfg.Messages.Has(l) {
		return
	}
	if err := cookies.Set(w, g.attrs.New(g.names.lang, l, g.cfg.Prefix, langCookieTTL)); err != nil {
		g.log.Error("issuing language cookie", zap.Error(err))
	}
}

// languageLinks are the page in each language the gateway offers (none with only one).
func (g *Gateway) languageLinks(r *http.Request, current string) []view.Language {
	tags := g.cfg.Messages.Languages()
	if len(tags) < 2 {
		return nil
	}
	out := make([]view.Language, len(tags))
	for i, tag := range tags {
		q := url.Values{langParam: {tag}}
		if rd := r.URL.Query().Get(g.cfg.RedirectParam); rd != "" {
			q.Set(g.cfg.RedirectParam, rd)
		}
		// The cleaned path: the raw one may start with // and name another host.
		href := access.CleanPath(r.URL.Path) + "?" + q.Encode()
		out[i] = view.Language{Tag: tag, Name: g.cfg.Messages.Name(tag), Href: href, Current: tag == current}
	}
	return out
}
