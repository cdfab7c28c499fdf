package web

import (
	"context"
	"io"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkMailboxRender draws an inbox of 1,000 messages (the Files page's
// 1,000-file case is benchmarked through the conduit's server) and reports
// p50 and p99; the target is p99 under 20 ms.
func BenchmarkMailboxRender(b *testing.B) {
	v := MailboxView{Page: Page{Title: "Mail", Active: NavMail, Unlocked: true, Connected: true}, Address: testAddress}
	for i := range 1000 {
		v.Rows = append(v.Rows, MailRow{ID: strconv.Itoa(1e9 + i), From: testAddress, Verified: i%7 != 0,
			Problem: map[bool]string{true: "the signature is not the claimed sender's"}[i%7 == 0],
			Subject: "Message number " + strconv.Itoa(i), Date: "2026-11-21 12:00", Read: i%3 == 0, Attachments: i % 4})
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := MailPage(v).Render(context.Background(), io.Discard); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}
