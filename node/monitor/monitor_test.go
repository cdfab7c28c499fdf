package monitor

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestStatusMetricsAndReadOnly(t *testing.T) {
	m := New()
	m.Provide("node", func() any { return map[string]any{"key": "abc", "peers": 2} })
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "borgios_test_total", Help: "test"})
	m.Registry().MustRegister(c)
	c.Add(3)
	srv, err := m.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	base := "http://" + srv.Addr().String()

	resp, err := http.Get(base + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if st["node"]["key"] != "abc" {
		t.Fatalf("status: %v", st)
	}

	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "borgios_test_total 3") || !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("metrics missing counters:\n%s", body)
	}

	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(method, base+"/status", strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("%s /status: %d, want 405", method, resp.StatusCode)
		}
	}

	resp, err = http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "BorgIOS node") {
		t.Fatalf("page: %s", body)
	}
}

// The host steal counter reads /proc/stat where there is one and is
// exported in /metrics either way.
func TestHostSteal(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err == nil {
		if _, ok := HostSteal(); !ok {
			t.Fatal("/proc/stat exists but no steal column was read")
		}
	}
	mfs, err := New().Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "borgios_host_cpu_steal_seconds_total" {
			return
		}
	}
	t.Fatal("borgios_host_cpu_steal_seconds_total not exported")
}
