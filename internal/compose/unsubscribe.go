package compose

import (
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// Unsubscribe makes the unsubscribe links of a recipient's address; the
// campaign makes them with its secret (internal/unsubscribe).
type Unsubscribe struct {
	URL    func(addr string) string // the one-click https link; nil for none
	Mailto func(addr string) string // the mailto: URI; nil for none
}

// unsubscribeFunc is the template function that writes the one-click
// link of the message's recipient. In an HTML body it is a URL that
// html/template trusts; in a Markdown body it goes where a value goes, so
// it is a link when written as one: [unsubscribe]({{unsubscribeURL}}).
const unsubscribeFunc = "unsubscribeURL"

// unsubscribeURL is the function of one executor: the link of the row it
// renders, set once the To is known.
func (x *executor) unsubscribeURL() htmltemplate.URL { return htmltemplate.URL(x.unsubscribe) }

// checkUnsubscribe refuses {{unsubscribeURL}} without a URL to make it
// from, and [headers] that the unsubscribe headers would replace.
func (c *Composer) checkUnsubscribe() []error {
	var errs []error
	u := c.spec.Unsubscribe
	for _, t := range c.templates() {
		pos, ok := t.callAt(unsubscribeFunc)
		if !ok {
			continue
		}
		c.unsubscribe = true
		if u == nil || u.URL == nil {
			errs = append(errs, &TemplateError{Where: t.src.where(t.src.lineAt(int(pos))),
				Err:  errors.New("{{unsubscribeURL}} needs [unsubscribe] url in the campaign"),
				Help: `add [unsubscribe] with url = "https://…" and secret_env (see the README: one-click unsubscribe)`})
		}
	}
	if u == nil {
		return errs
	}
	for _, h := range c.headers {
		if h.name == gomail.HeaderListUnsubscribe.String() || h.name == gomail.HeaderListUnsubscribePost.String() {
			errs = append(errs, &TemplateError{Where: h.value.src.where(1),
				Err:  fmt.Errorf("header %q is set by [unsubscribe], not in [headers]", h.name),
				Help: "remove it from [headers]"})
		}
	}
	return errs
}

// unsubscribeAddress is the address the links of a row are for: the
// message's recipient, the first To, or for a test send the address it
// goes to, so that following a link in a test unsubscribes the tester and
// never the row's recipient. "" when the To does not parse: the row fails
// on it anyway.
func (c *Composer) unsubscribeAddress(to string) string {
	if a := c.spec.RedirectTo; a != nil {
		return a.Address
	}
	list, err := addressList(c.to, to, true)
	if err != nil {
		return ""
	}
	return list[0].Address
}

// setListUnsubscribe writes List-Unsubscribe and List-Unsubscribe-Post
// for addr; a second link goes on a line of its own.
func (c *Composer) setListUnsubscribe(msg *gomail.Msg, addr string) {
	u := c.spec.Unsubscribe
	var links []string
	if u.URL != nil {
		links = append(links, "<"+u.URL(addr)+">")
	}
	if u.Mailto != nil {
		links = append(links, "<"+u.Mailto(addr)+">")
	}
	if len(links) == 0 {
		return
	}
	msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribe, strings.Join(links, ",\r\n "))
	if u.URL != nil {
		msg.SetGenHeader(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
	}
}
