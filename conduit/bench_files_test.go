package conduit

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/borgios/borgios/node/files"
	"github.com/borgios/borgios/web"
)

// BenchmarkFilesPageRender renders the Files page of a folder of 1,000
// files (view model and templ, as pageFiles does after the listing comes
// back from the network) and reports p50 and p99; the target is p99 under
// 20 ms. The same page for an empty folder is the baseline, so the ratio
// is the cost of the rows. The Wallet page with 50 history lines is
// measured alongside.
func BenchmarkFilesPageRender(b *testing.B) {
	page := web.Page{Title: "Files", Active: web.NavFiles, Unlocked: true, Connected: true, Address: "borg1example", NeedsKeys: true}
	many := make([]files.Entry, 1000)
	now := time.Now().UnixMilli()
	for i := range many {
		many[i] = files.Entry{Name: fmt.Sprintf("holiday photo %04d.jpg", i), Kind: files.KindFile, Size: int64(i) * 12345, MTime: now}
	}
	for i := 0; i < 20; i++ {
		many[i].Kind = files.KindDir
	}
	measure := func(b *testing.B, render func(*bytes.Buffer) error) time.Duration {
		lat := make([]time.Duration, 0, 1024)
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			start := time.Now()
			if err := render(&buf); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		p50, p99 := lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
		b.SetBytes(int64(buf.Len()))
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
		return p50
	}
	filesPage := func(es []files.Entry) func(*bytes.Buffer) error {
		return func(buf *bytes.Buffer) error {
			return web.FilesPage(filesView(page, "/photos", es)).Render(context.Background(), buf)
		}
	}
	var empty time.Duration
	b.Run("baseline-empty-folder", func(b *testing.B) { empty = measure(b, filesPage(nil)) })
	b.Run("files-1000", func(b *testing.B) {
		p50 := measure(b, filesPage(many))
		if empty > 0 {
			b.ReportMetric(float64(p50)/float64(empty), "p50-x-empty")
		}
	})
	hist := make([]web.WalletItem, historyLimit)
	for i := range hist {
		hist[i] = web.WalletItem{Seq: uint64(i), Kind: "sent", Amount: "−1.5", Fee: "0.01", Who: "borg1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"}
	}
	b.Run("wallet-50", func(b *testing.B) {
		measure(b, func(buf *bytes.Buffer) error {
			return web.WalletPage(web.WalletView{Page: page, Balance: "100", History: hist}).Render(context.Background(), buf)
		})
	})
}
