package web

import (
	"net/url"
	"strconv"
)

// urlQuery escapes a path for a query parameter value.
func urlQuery(s string) string { return url.QueryEscape(s) }

func u64(n uint64) string { return strconv.FormatUint(n, 10) }
