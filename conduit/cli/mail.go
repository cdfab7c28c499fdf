package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/borgios/borgios/node/identity"
	"github.com/borgios/borgios/node/mail"
	"github.com/borgios/borgios/node/shard"
)

func init() { subcommands = append(subcommands, newMailCmd) }

type mailFlags struct {
	personFlags
	asJSON bool
	// send
	subject, body, bodyFile string
	attach                  []string
	// read
	saveDir string
}

func newMailCmd() *cobra.Command {
	var f mailFlags
	cmd := &cobra.Command{
		Use:   "mail",
		Short: "End-to-end encrypted mail: send, list, read, rm, publish",
		Long: `Talks to running nodes (--peer NODEKEY@HOST:PORT, repeatable: the others are
used when one is down) with your account key. Your recovery phrase is read
from standard input (first line; an optional BIP39 passphrase on the second),
or your key file with --keyfile, as for 'borgios files'.

Mail is sealed here to the recipient's published key and signed by you inside
the encryption; nodes see only the recipient, the size and the time. To
receive mail, publish your key record once ('borgios mail publish'; every
send publishes it too). A message whose sender signature does not verify is
listed and shown as FLAGGED: its From line proves nothing.`,
	}
	pf := cmd.PersistentFlags()
	f.register(pf, 30*time.Minute)
	pf.BoolVar(&f.asJSON, "json", false, "print JSON")

	send := &cobra.Command{Use: "send ADDRESS", Short: "Send a message (with attachments) to a borg1 address", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, args, mailSend) }}
	send.Flags().StringVar(&f.subject, "subject", "", "subject line")
	send.Flags().StringVar(&f.body, "body", "", "message text")
	send.Flags().StringVar(&f.bodyFile, "body-file", "", "read the message text from this file")
	send.Flags().StringArrayVar(&f.attach, "attach", nil, "attach this file (repeatable)")
	send.MarkFlagRequired("subject")
	send.MarkFlagsMutuallyExclusive("body", "body-file")
	send.MarkFlagsOneRequired("body", "body-file")

	read := &cobra.Command{Use: "read ID", Short: "Show a message (ID or a unique prefix from 'mail list') and mark it read", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, args, mailRead) }}
	read.Flags().StringVar(&f.saveDir, "save-attachments", "", "save the attachments into this directory")

	cmd.AddCommand(
		&cobra.Command{Use: "publish", Short: "Publish your mail key record so others can write to you", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, args, mailPublish) }},
		send,
		&cobra.Command{Use: "list", Short: "List your mailbox, oldest first", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, args, mailList) }},
		read,
		&cobra.Command{Use: "rm ID...", Short: "Delete messages (IDs or unique prefixes)", Args: cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error { return f.run(cmd, args, mailRm) }},
	)
	return cmd
}

type mailCtx struct {
	f      *mailFlags
	out    io.Writer
	errOut io.Writer
	client *mail.Client
}

func (f *mailFlags) run(cmd *cobra.Command, args []string, do func(context.Context, *mailCtx, []string) error) error {
	pc, err := f.connect(cmd, "mail")
	if err != nil {
		return err
	}
	defer pc.close()
	ctx, cancel := f.context(cmd)
	defer cancel()
	k, caller, view := pc.keys, pc.caller, pc.view
	mc, err := mail.NewClient(mail.ClientConfig{Call: caller, Keys: k,
		Members: view.members(mail.DNA.Name), ShardMembers: view.members(shard.DNA.Name)})
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	return do(ctx, &mailCtx{f: f, out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr(), client: mc}, args)
}

// mailPublish rotates the prekeys as due (a new random prekey each
// period; retired ones destroyed after the grace period, their messages
// archived first) and publishes the key record.
func mailPublish(ctx context.Context, w *mailCtx, _ []string) error {
	rep, err := w.client.Rotate(ctx)
	if err != nil {
		return err
	}
	addr := identity.Address(w.client.Account())
	if w.f.asJSON {
		return writeJSON(w.out, map[string]any{"address": addr, "published": true, "rotation": rep})
	}
	fmt.Fprintf(w.out, "published the mail key of %s: others can write to you now\n", addr)
	if rep.Created {
		fmt.Fprintf(w.out, "new prekey #%d (vault version %d)\n", rep.Prekey, rep.Vault)
	}
	if len(rep.Retired) > 0 {
		fmt.Fprintf(w.out, "retired prekeys %v: their secrets are destroyed (%d messages archived first)\n", rep.Retired, rep.Archived)
	}
	if len(rep.Kept) > 0 {
		fmt.Fprintf(w.out, "prekeys %v are due to retire but kept: a message sealed to them could not be archived yet\n", rep.Kept)
	}
	return nil
}

type sendOutput struct {
	ID      string `json:"id"`
	To      string `json:"to"`
	Holders int    `json:"holders"`
}

func mailSend(ctx context.Context, w *mailCtx, args []string) error {
	acct, err := parseAccount(args[0])
	if err != nil {
		return fmt.Errorf("mail send: recipient %q: %w", args[0], err)
	}
	to := ed25519.PublicKey(acct[:])
	body := w.f.body
	if w.f.bodyFile != "" {
		b, err := os.ReadFile(w.f.bodyFile)
		if err != nil {
			return fmt.Errorf("mail send: %w", err)
		}
		body = string(b)
	}
	d := mail.Draft{To: to, Subject: w.f.subject, Body: body}
	for _, p := range w.f.attach {
		fh, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("mail send: %w", err)
		}
		defer fh.Close()
		if st, err := fh.Stat(); err != nil || !st.Mode().IsRegular() {
			return fmt.Errorf("mail send: attachment %s: not a regular file", p)
		}
		d.Attachments = append(d.Attachments, mail.File{Name: filepath.Base(p), R: fh})
	}
	// Publishing ours first lets the recipient answer right away.
	if err := w.client.PublishKey(ctx); err != nil {
		return fmt.Errorf("mail send: publishing your key: %w", err)
	}
	id, n, err := w.client.Send(ctx, d)
	if errors.Is(err, mail.ErrNoKey) {
		return fmt.Errorf("mail send: %s has published no mail key yet, so mail to them cannot be sealed: ask them to run 'borgios mail publish' (or send you any mail), then send again: %w", identity.Address(to), err)
	}
	if err != nil {
		return fmt.Errorf("mail send: %w", err)
	}
	o := sendOutput{ID: hex.EncodeToString(id[:]), To: identity.Address(to), Holders: n}
	if w.f.asJSON {
		return writeJSON(w.out, o)
	}
	fmt.Fprintf(w.out, "sent %s to %s (stored on %d mailbox holders)\n", o.ID[:idShort], o.To, n)
	return nil
}

// idShort is how many hex digits 'mail list' shows; any unique prefix of
// at least minPrefix digits names a message.
const (
	idShort   = 12
	minPrefix = 6
)

type attachmentOutput struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

type messageOutput struct {
	ID       string `json:"id"`
	From     string `json:"from,omitempty"`
	Subject  string `json:"subject"`
	Time     int64  `json:"time_ms,omitempty"`
	Received int64  `json:"received_ms"`
	Size     int    `json:"size"`
	Read     bool   `json:"read"`
	// Flagged: the sender signature did not verify (Problem says why);
	// From is then only a claim.
	Flagged bool   `json:"flagged"`
	Problem string `json:"problem,omitempty"`
	// LongTerm: sealed to the long-term key (the sender found no valid
	// prekey): no forward secrecy for this message.
	LongTerm    bool               `json:"long_term,omitempty"`
	Attachments []attachmentOutput `json:"attachments"`
	// Error: the message could not be fetched or opened.
	Error string `json:"error,omitempty"`
	Body  string `json:"body,omitempty"`
}

func messageOut(e mail.Entry, m *mail.Message, err error) messageOutput {
	o := messageOutput{ID: hex.EncodeToString(e.ID[:]), Received: e.Received, Size: e.Size, Read: e.Read, Attachments: []attachmentOutput{}}
	if err != nil {
		o.Error = err.Error()
		return o
	}
	o.From, o.Subject, o.Time = identity.Address(m.From), m.Subject, m.Time
	o.Flagged, o.Problem, o.LongTerm = !m.Verified, m.Problem, m.LongTerm
	for _, a := range m.Attachments {
		o.Attachments = append(o.Attachments, attachmentOutput{Name: a.Name, Size: a.Size})
	}
	return o
}

func mailList(ctx context.Context, w *mailCtx, _ []string) error {
	es, err := w.client.List(ctx)
	if err != nil {
		return fmt.Errorf("mail list: %w", err)
	}
	// The listing carries only IDs and sizes; sender and subject are
	// inside the seal, so every message is fetched and opened here, a few
	// at a time.
	out := make([]messageOutput, len(es))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, e := range es {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			m, err := w.client.Read(ctx, e.ID)
			out[i] = messageOut(e, m, err)
		}()
	}
	wg.Wait()
	if w.f.asJSON {
		return writeJSON(w.out, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(w.out, "no mail")
		return nil
	}
	for _, o := range out {
		mark := "new "
		if o.Read {
			mark = "read"
		}
		when := time.UnixMilli(o.Received).UTC().Format("2006-01-02 15:04")
		switch {
		case o.Error != "":
			fmt.Fprintf(w.out, "%s  %s  %s  (cannot open: %s)\n", o.ID[:idShort], when, mark, o.Error)
		case o.Flagged:
			fmt.Fprintf(w.out, "%s  %s  %s  FLAGGED (sender signature did not verify: %s) claims %s  %s\n", o.ID[:idShort], when, mark, o.Problem, o.From, o.Subject)
		default:
			clip := ""
			if len(o.Attachments) > 0 {
				clip = fmt.Sprintf("  [%d attachments]", len(o.Attachments))
			}
			fmt.Fprintf(w.out, "%s  %s  %s  %s  %s%s\n", o.ID[:idShort], when, mark, o.From, o.Subject, clip)
		}
	}
	return nil
}

// resolveIDs turns full IDs or unique hex prefixes into message IDs; only
// prefixes cost a listing.
func (w *mailCtx) resolveIDs(ctx context.Context, args []string) ([]mail.ID, error) {
	var es []mail.Entry
	listed := false
	var ids []mail.ID
	for _, a := range args {
		a = strings.ToLower(strings.TrimSpace(a))
		if _, err := hex.DecodeString(a + strings.Repeat("0", len(a)%2)); err != nil || len(a) < minPrefix || len(a) > 64 {
			return nil, fmt.Errorf("message ID %q: want at least %d hex digits as shown by 'borgios mail list'", a, minPrefix)
		}
		if len(a) == 64 {
			b, _ := hex.DecodeString(a)
			ids = append(ids, mail.ID(b))
			continue
		}
		if !listed {
			var err error
			if es, err = w.client.List(ctx); err != nil {
				return nil, err
			}
			listed = true
		}
		var match []mail.ID
		for _, e := range es {
			if strings.HasPrefix(hex.EncodeToString(e.ID[:]), a) {
				match = append(match, e.ID)
			}
		}
		switch len(match) {
		case 0:
			return nil, fmt.Errorf("%w: %s", mail.ErrNotFound, a)
		case 1:
			ids = append(ids, match[0])
		default:
			return nil, fmt.Errorf("message ID %s is ambiguous (%d messages): give more digits", a, len(match))
		}
	}
	return ids, nil
}

func mailRead(ctx context.Context, w *mailCtx, args []string) error {
	ids, err := w.resolveIDs(ctx, args)
	if err != nil {
		return fmt.Errorf("mail read: %w", err)
	}
	id := ids[0]
	m, err := w.client.Read(ctx, id)
	if err != nil {
		return fmt.Errorf("mail read: %w", err)
	}
	var saved []string
	if w.f.saveDir != "" {
		if saved, err = w.saveAttachments(ctx, m); err != nil {
			return fmt.Errorf("mail read: %w", err)
		}
	}
	if !m.Read {
		if err := w.client.Mark(ctx, id, true); err != nil {
			fmt.Fprintf(w.errOut, "warning: could not mark the message read: %v\n", err)
		}
	}
	o := messageOut(mail.Entry{ID: id, Received: m.Received, Read: m.Read}, m, nil)
	o.Body = m.Body
	if w.f.asJSON {
		return writeJSON(w.out, o)
	}
	if o.Flagged {
		fmt.Fprintf(w.out, "FLAGGED: the sender signature did not verify (%s).\nThe From line below is only a claim: do not trust who this is from.\n", o.Problem)
	}
	if o.LongTerm {
		fmt.Fprintf(w.out, "Note: sealed to your long-term key, as the sender found no valid prekey of yours: no forward secrecy for this message. Run 'borgios mail publish' regularly.\n")
	}
	fmt.Fprintf(w.out, "ID:      %s\nFrom:    %s\nDate:    %s (received %s)\nSubject: %s\n",
		o.ID, o.From, time.UnixMilli(o.Time).UTC().Format(time.RFC3339), time.UnixMilli(o.Received).UTC().Format(time.RFC3339), o.Subject)
	for i, a := range o.Attachments {
		line := fmt.Sprintf("Attach:  %s (%s)", a.Name, humanBytes(a.Size))
		if saved != nil {
			line += " -> " + saved[i]
		}
		fmt.Fprintln(w.out, line)
	}
	fmt.Fprintf(w.out, "\n%s\n", o.Body)
	return nil
}

// saveAttachments writes each attachment under a name of its own in dir:
// the sender chose the name, so only its base is used and an existing
// file is never overwritten. Each goes to a temporary file first, renamed
// into place once every byte was verified.
func (w *mailCtx) saveAttachments(ctx context.Context, m *mail.Message) ([]string, error) {
	if err := os.MkdirAll(w.f.saveDir, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for i, a := range m.Attachments {
		dst, err := freeName(w.f.saveDir, a.Name, i)
		if err != nil {
			return out, err
		}
		tmp, err := os.CreateTemp(w.f.saveDir, ".borgios-mail-*")
		if err != nil {
			return out, err
		}
		err = w.client.FetchAttachment(ctx, a, tmp)
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			// Link rather than rename: it fails instead of replacing a
			// file that appeared meanwhile.
			err = os.Link(tmp.Name(), dst)
		}
		os.Remove(tmp.Name())
		if err != nil {
			return out, fmt.Errorf("attachment %s: %w", a.Name, err)
		}
		out = append(out, dst)
	}
	return out, nil
}

func freeName(dir, name string, i int) (string, error) {
	base := filepath.Base(filepath.Clean(string(filepath.Separator) + filepath.FromSlash(strings.ReplaceAll(name, "\\", "/"))))
	if base == "" || base == "." || base == ".." || base == string(filepath.Separator) || strings.HasPrefix(base, ".borgios-mail-") {
		base = fmt.Sprintf("attachment-%d", i+1)
	}
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	for n := 0; n < 1000; n++ {
		p := filepath.Join(dir, base)
		if n > 0 {
			p = filepath.Join(dir, fmt.Sprintf("%s (%d)%s", stem, n, ext))
		}
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			return p, nil
		}
	}
	return "", fmt.Errorf("no free file name for %s in %s", name, dir)
}

func mailRm(ctx context.Context, w *mailCtx, args []string) error {
	ids, err := w.resolveIDs(ctx, args)
	if err != nil {
		return fmt.Errorf("mail rm: %w", err)
	}
	if err := w.client.Delete(ctx, ids...); err != nil {
		return fmt.Errorf("mail rm: %w", err)
	}
	var hs []string
	for _, id := range ids {
		hs = append(hs, hex.EncodeToString(id[:]))
	}
	if w.f.asJSON {
		return writeJSON(w.out, map[string]any{"removed": hs})
	}
	for _, h := range hs {
		fmt.Fprintf(w.out, "removed %s\n", h[:idShort])
	}
	return nil
}
