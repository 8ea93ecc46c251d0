package compose

import (
	"fmt"
	"net/textproto"
	"strings"
)

// reservedHeaders are set from their own campaign keys or by the message
// builder; [headers] cannot override them.
var reservedHeaders = map[string]string{
	"From": "from", "To": "to", "Cc": "cc", "Bcc": "bcc", "Reply-To": "reply_to",
	"Subject": "subject", "Date": "", "Message-Id": "", "Mime-Version": "",
	"Return-Path": "", "Received": "", "Sender": "", "Delivered-To": "",
	"Content-Type": "", "Content-Transfer-Encoding": "", "Content-Disposition": "",
}

// validateHeaderName accepts an RFC 5322 field name (printable ASCII
// without space or colon) that is not one the builder owns.
func validateHeaderName(name string) error {
	if name == "" {
		return fmt.Errorf("empty header name")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 33 || c > 126 || c == ':' {
			return fmt.Errorf("header name %q: only letters, digits and - are allowed (no spaces, colons or line breaks)", name)
		}
	}
	if len(name) > 76 {
		return fmt.Errorf("header name %q is longer than 76 characters", name)
	}
	canon := canonicalHeader(name)
	if key, ok := reservedHeaders[canon]; ok {
		if key != "" {
			return fmt.Errorf("header %q is set with the campaign key %q, not in [headers]", name, key)
		}
		return fmt.Errorf("header %q is set by mailmerge and cannot be overridden", name)
	}
	if strings.HasPrefix(canon, "Content-") {
		return fmt.Errorf("header %q is set by mailmerge and cannot be overridden", name)
	}
	return nil
}

func canonicalHeader(name string) string { return textproto.CanonicalMIMEHeaderKey(name) }
