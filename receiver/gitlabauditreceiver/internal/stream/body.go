// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package stream

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"unsafe"
)

// The streaming endpoint's I/O, tuned by measurement (BenchmarkStreamHandler,
// BenchmarkStreamBody): reading the body and writing the answer. The flow
// of a request is in stream.go.

// bodyBuffers are the buffers request bodies of up to maxPooledBody bytes
// are read into; the body itself is then copied into a string of its
// exact size, which the decoded values point into.
var bodyBuffers = sync.Pool{New: func() any { return new([]byte) }}

const (
	// maxPooledBody is the largest buffer kept for reuse: single events
	// are a few KB; the rare large batch does not pin its buffer.
	maxPooledBody = 64 << 10
	// firstBodyBuffer is the most given to a body before its bytes
	// arrive. The length a request announces is only a promise: a sender
	// that announces 10 MiB and then stalls holds this much, not 10 MiB.
	firstBodyBuffer = 16 << 10
)

// readBody reads the whole request body into a string. A body of the
// announced length up to firstBodyBuffer costs one allocation of its size:
// io.Copy into a strings.Builder would also allocate a 32 KiB copy buffer
// per request. A larger body grows its buffer as its bytes arrive,
// doubling, up to the announced length (or limit when none is given), so
// that what a request holds stays within twice what it has sent.
func readBody(r *http.Request, limit int64) (string, error) {
	// most is the largest buffer worth having: the announced length, or
	// limit when it is unknown or larger (the reader confighttp puts on
	// the body fails beyond limit); +1: room to read the EOF without
	// growing.
	most := limit + 1
	if n := r.ContentLength; n >= 0 && n < limit {
		most = n + 1
	}
	bp := bodyBuffers.Get().(*[]byte)
	b := (*bp)[:0]
	if cap(b) == 0 {
		b = make([]byte, 0, min(most, firstBodyBuffer))
	}
	for {
		if len(b) == cap(b) {
			b = growBody(b, most)
		}
		n, err := r.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			pooled := cap(b) <= maxPooledBody
			body := ""
			switch {
			case !errors.Is(err, io.EOF):
			case pooled:
				body, err = string(b), nil
			default:
				// A buffer too large to pool is never written again: the
				// string is made on it rather than on a copy, which
				// saves a copy of the body (BenchmarkStreamBody: a 10 MiB
				// request allocated 38 MB, now 27 MB).
				body, err = unsafe.String(unsafe.SliceData(b), len(b)), nil
			}
			if pooled {
				*bp = b[:0]
				bodyBuffers.Put(bp)
			}
			return body, err
		}
	}
}

// growBody returns a full buffer b with twice its room, but no more than
// most bytes in all unless b already holds that many.
func growBody(b []byte, most int64) []byte {
	c := int64(2 * cap(b))
	if c > most {
		c = most
	}
	if c <= int64(cap(b)) {
		c = int64(cap(b)) + firstBodyBuffer
	}
	nb := make([]byte, len(b), c)
	copy(nb, b)
	return nb
}

func writeJSON(w http.ResponseWriter, status int, a streamAnswer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if a.Error == "" && a.Refused == nil && (a.Status == "" || a.Status == "ok") {
		// The answer to nearly every request, without reflection; the
		// most common one made once.
		if a.Status == "ok" && a.Accepted == 1 && a.Duplicates == 0 && a.Filtered == 0 {
			_, _ = w.Write(acceptedOne)
			return
		}
		var buf [128]byte
		_, _ = w.Write(appendCountsAnswer(buf[:0], a))
		return
	}
	_ = json.NewEncoder(w).Encode(a)
}

// acceptedOne is the answer to a request whose one event was accepted.
var acceptedOne = appendCountsAnswer(nil, streamAnswer{Status: "ok", Accepted: 1})

// appendCountsAnswer appends what json.Encoder writes for an answer that
// holds only a status ("ok" or none) and counts.
func appendCountsAnswer(b []byte, a streamAnswer) []byte {
	b = append(b, '{')
	if a.Status != "" {
		b = append(b, `"status":"ok",`...)
	}
	b = append(b, `"accepted":`...)
	b = strconv.AppendInt(b, int64(a.Accepted), 10)
	if a.Duplicates != 0 {
		b = append(b, `,"duplicates":`...)
		b = strconv.AppendInt(b, int64(a.Duplicates), 10)
	}
	if a.Filtered != 0 {
		b = append(b, `,"filtered":`...)
		b = strconv.AppendInt(b, int64(a.Filtered), 10)
	}
	return append(b, "}\n"...)
}
