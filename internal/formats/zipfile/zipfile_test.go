package zipfile_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/modelgate/modelgate/internal/formats/zipfile"
)

type member struct {
	name   string
	data   string
	method uint16
}

// build writes a zip with archive/zip; tests then damage it the way
// attackers do.
func build(t testing.TB, ms ...member) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, m := range ms {
		f, err := w.CreateHeader(&zip.FileHeader{Name: m.name, Method: m.method})
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(m.data))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func read(t *testing.T, data []byte) *zipfile.Archive {
	t.Helper()
	a, err := zipfile.Read(bytes.NewReader(data), int64(len(data)), 1000)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return a
}

func kinds(a *zipfile.Archive) map[zipfile.AnomalyKind]int {
	m := map[zipfile.AnomalyKind]int{}
	for _, an := range a.Anomalies {
		m[an.Kind]++
	}
	return m
}

func content(t *testing.T, a *zipfile.Archive, e *zipfile.Entry) string {
	t.Helper()
	r, err := a.Open(e)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// localHeaders returns the offsets of every local header signature.
func localHeaders(data []byte) []int {
	var out []int
	for i := 0; i+4 <= len(data); i++ {
		if binary.LittleEndian.Uint32(data[i:]) == 0x04034b50 {
			out = append(out, i)
		}
	}
	return out
}

func centralHeaders(data []byte) []int {
	var out []int
	for i := 0; i+4 <= len(data); i++ {
		if binary.LittleEndian.Uint32(data[i:]) == 0x02014b50 {
			out = append(out, i)
		}
	}
	return out
}

func TestReadsCleanArchive(t *testing.T) {
	data := build(t, member{"archive/data.pkl", "pickle", zip.Store}, member{"archive/version", "3\n", zip.Deflate})
	a := read(t, data)
	if len(a.Entries) != 2 || len(a.Anomalies) != 0 {
		t.Fatalf("entries %d anomalies %+v", len(a.Entries), a.Anomalies)
	}
	if got := content(t, a, a.Entries[0]); got != "pickle" {
		t.Errorf("stored content %q", got)
	}
	if got := content(t, a, a.Entries[1]); got != "3\n" {
		t.Errorf("deflated content %q", got)
	}
	if ok, err := a.CheckCRC(a.Entries[0]); !ok || err != nil {
		t.Errorf("CRC %v %v", ok, err)
	}
}

func TestAnomaliesAreRecordedNotFatal(t *testing.T) {
	for _, tc := range []struct {
		name   string
		data   func() []byte
		want   zipfile.AnomalyKind
		member string // content of the first member must still be readable
	}{
		{"duplicate names", func() []byte {
			return build(t, member{"a/data.pkl", "one", zip.Store}, member{"a/data.pkl", "two", zip.Store})
		}, zipfile.DuplicateName, "one"},
		{"local name differs", func() []byte {
			d := build(t, member{"a/data.pkl", "one", zip.Store})
			l := localHeaders(d)[0]
			copy(d[l+30:], "a/data.pkx")
			return d
		}, zipfile.NameMismatch, "one"},
		{"encrypted flag on plain data", func() []byte {
			d := build(t, member{"a/data.pkl", "one", zip.Store})
			binary.LittleEndian.PutUint16(d[localHeaders(d)[0]+6:], 1)
			binary.LittleEndian.PutUint16(d[centralHeaders(d)[0]+8:], 1)
			return d
		}, zipfile.OddFlags, "one"},
		{"prepended data", func() []byte {
			return append([]byte("#!/bin/sh\nexit 0\n"), build(t, member{"a/data.pkl", "one", zip.Store})...)
		}, zipfile.PrefixData, "one"},
		{"no central directory", func() []byte {
			d := build(t, member{"a/data.pkl", "one", zip.Store}, member{"a/other", "two", zip.Store})
			return d[:centralHeaders(d)[0]]
		}, zipfile.NoCentralDir, "one"},
		{"two directory entries share data", func() []byte {
			d := build(t, member{"a/data.pkl", "one", zip.Store}, member{"a/data2.pkl", "two", zip.Store})
			c := centralHeaders(d)
			binary.LittleEndian.PutUint32(d[c[1]+42:], uint32(localHeaders(d)[0]))
			return d
		}, zipfile.Overlap, "one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := read(t, tc.data())
			if kinds(a)[tc.want] == 0 {
				t.Errorf("no %s anomaly in %+v", tc.want, a.Anomalies)
			}
			if got := content(t, a, a.Entries[0]); got != tc.member {
				t.Errorf("first member %q, want %q", got, tc.member)
			}
		})
	}
}

func TestBadCRCStillReadable(t *testing.T) {
	d := build(t, member{"a/data.pkl", "one", zip.Store})
	binary.LittleEndian.PutUint32(d[localHeaders(d)[0]+14:], 0xdeadbeef)
	binary.LittleEndian.PutUint32(d[centralHeaders(d)[0]+16:], 0xdeadbeef)
	a := read(t, d)
	if ok, err := a.CheckCRC(a.Entries[0]); ok || err != nil {
		t.Errorf("CheckCRC = %v, %v; want false, nil", ok, err)
	}
	if got := content(t, a, a.Entries[0]); got != "one" {
		t.Errorf("content %q", got)
	}
}

func TestLimitsAndGarbage(t *testing.T) {
	var ms []member
	for range 20 {
		ms = append(ms, member{"x", "y", zip.Store})
	}
	d := build(t, ms...)
	a, err := zipfile.Read(bytes.NewReader(d), int64(len(d)), 5)
	if err == nil || len(a.Entries) != 5 {
		t.Errorf("err %v, %d entries", err, len(a.Entries))
	}
	for _, junk := range [][]byte{nil, []byte("PK"), []byte("PK\x05\x06" + string(make([]byte, 18))), bytes.Repeat([]byte("PK\x01\x02"), 100)} {
		if _, err := zipfile.Read(bytes.NewReader(junk), int64(len(junk)), 10); err == nil && len(junk) < 22 {
			t.Errorf("junk %q read without error", junk)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add(build(f, member{"archive/data.pkl", "\x80\x02K\x01.", zip.Store}, member{"archive/version", "3\n", zip.Deflate}))
	f.Add(append([]byte("junk"), build(f, member{"a", "b", zip.Deflate})...))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, _ := zipfile.Read(bytes.NewReader(data), int64(len(data)), 100)
		if a == nil {
			return
		}
		for _, e := range a.Entries {
			r, err := a.Open(e)
			if err != nil {
				continue
			}
			io.Copy(io.Discard, io.LimitReader(r, 1<<20))
		}
	})
}
