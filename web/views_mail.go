package web

import "strconv"

// MailRow is one message in the inbox.
type MailRow struct {
	// ID is the message ID in hex, for links.
	ID string
	// From is the sender's address as the letter claims it; trust it only
	// when Verified.
	From     string
	Verified bool
	// Problem says why a message is flagged, or why it could not be
	// opened (then Subject is empty).
	Problem     string
	Subject     string
	Date        string // "2006-01-02 15:04" UTC, the sender's time
	Read        bool
	Attachments int
}

// MailboxView is the inbox.
type MailboxView struct {
	Page
	Address string
	Rows    []MailRow
	Error   string
	Notice  string
	// Range ("51–100 of 230") and the links to the newer and older pages,
	// when the mailbox has more than one page.
	Range, Newer, Older string
}

// MailAttachment is one attachment of an opened message.
type MailAttachment struct {
	Name string
	Size string
	// URL downloads it (always as an attachment, never inline).
	URL string
}

// MailMessageView is one opened message.
type MailMessageView struct {
	Page
	ID          string
	From        string
	Verified    bool
	Problem     string
	To          string
	Subject     string
	Date        string
	Received    string
	Body        string
	Attachments []MailAttachment
	Error       string
}

// MailComposeView is the compose form; the fields refill it after a
// mistake.
type MailComposeView struct {
	Page
	To      string
	Subject string
	Body    string
	Error   string
}

// mailPlural says "1 attachment", "3 attachments".
func mailPlural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
