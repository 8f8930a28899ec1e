package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// maxRetryAfter caps how long a Retry-After header can make a request wait.
const maxRetryAfter = 2 * time.Minute

// DefaultEndpoint is the public Hub.
const DefaultEndpoint = "https://huggingface.co"

// Client talks to one Hub endpoint. Its zero value is not usable; use New
// or FromEnv.
type Client struct {
	// Endpoint is the Hub's base URL (HF_ENDPOINT), without a trailing slash.
	Endpoint string
	// Token, if set, is sent as "Authorization: Bearer" to the endpoint's
	// host only (Go drops it on redirects to another host, such as a CDN).
	Token string
	// HTTP does the requests; New sets one with timeouts.
	HTTP *http.Client
	// Retries is how many times a request is retried on 429, 5xx and
	// connection errors (default 5, as huggingface_hub).
	Retries int
	// Backoff is the first retry delay, doubled each time (with jitter) up
	// to MaxBackoff; a Retry-After header takes precedence.
	Backoff, MaxBackoff time.Duration
	// UserAgent identifies the client.
	UserAgent string

	sem      chan struct{} // bounds requests in flight
	received atomic.Int64  // body bytes read from the network
}

// New returns a client for endpoint (DefaultEndpoint when empty) sending
// token (none when empty). At most concurrency requests are in flight at
// once (8 when <= 0).
func New(endpoint, token string, concurrency int) *Client {
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	if concurrency <= 0 {
		concurrency = 8
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		MaxIdleConnsPerHost:   concurrency,
		// Content is compared byte for byte and read by offset: no
		// transparent decompression.
		DisableCompression: true,
	}
	return &Client{
		Endpoint:   strings.TrimRight(endpoint, "/"),
		Token:      token,
		HTTP:       &http.Client{Transport: tr},
		Retries:    5,
		Backoff:    500 * time.Millisecond,
		MaxBackoff: 30 * time.Second,
		UserAgent:  "modelgate",
		sem:        make(chan struct{}, concurrency),
	}
}

// FromEnv returns a client configured by HF_ENDPOINT and HF_TOKEN (or the
// older HUGGING_FACE_HUB_TOKEN).
func FromEnv(getenv func(string) string) *Client {
	token := getenv("HF_TOKEN")
	if token == "" {
		token = getenv("HUGGING_FACE_HUB_TOKEN")
	}
	return New(getenv("HF_ENDPOINT"), token, 0)
}

type tokenKey struct{}

// WithToken returns a context whose requests send token instead of the
// client's own (none when empty): the gate passes each user's token through
// to the upstream Hub, and only there.
func WithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// TokenFrom returns the token WithToken put in ctx ("" when none).
func TokenFrom(ctx context.Context) string {
	t, _ := ctx.Value(tokenKey{}).(string)
	return t
}

// Fetch GETs a URL (following redirects, with retries) with extra request
// headers such as Range. The caller closes the body. Error answers become
// *Error.
func (c *Client) Fetch(ctx context.Context, u string, header http.Header) (*http.Response, error) {
	return c.do(ctx, request{method: http.MethodGet, url: u, header: header})
}

// PostForm POSTs a form to a read-only Hub API endpoint (paths-info),
// with the same retries as Fetch: such a request changes nothing upstream.
func (c *Client) PostForm(ctx context.Context, u string, form url.Values, header http.Header) (*http.Response, error) {
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(ctx, request{method: http.MethodPost, url: u, header: h, body: []byte(form.Encode())})
}

// FetchStorage GETs a storage URL the Hub redirected to (signed, so the
// token is never sent there, even on the Hub's own host).
func (c *Client) FetchStorage(ctx context.Context, u string, header http.Header) (*http.Response, error) {
	return c.do(ctx, request{method: http.MethodGet, url: u, header: header, noAuth: true})
}

// Received is the number of response body bytes read so far.
func (c *Client) Received() int64 { return c.received.Load() }

// Error is an error answer from the Hub, with its X-Error-Code and
// X-Error-Message headers when it sent them.
type Error struct {
	Status  int
	Code    string // RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo, ...
	Message string // the Hub's own message
	URL     string
}

func (e *Error) Error() string {
	var what string
	switch e.Code {
	case "RepoNotFound":
		what = "repository not found (or private: set HF_TOKEN to a token that can read it)"
	case "RevisionNotFound":
		what = "revision not found"
	case "EntryNotFound":
		what = "file not found in the repository"
	case "GatedRepo":
		what = "the repository is gated: accept its conditions on the Hub and set HF_TOKEN"
	default:
		switch e.Status {
		case http.StatusUnauthorized:
			what = "authentication required (set HF_TOKEN)"
		case http.StatusForbidden:
			what = "access refused"
		case http.StatusNotFound:
			what = "not found"
		case http.StatusTooManyRequests:
			what = "rate limited"
		default:
			what = http.StatusText(e.Status)
		}
	}
	s := fmt.Sprintf("%s (HTTP %d", what, e.Status)
	if e.Code != "" {
		s += ", " + e.Code
	}
	s += ")"
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// IsNotFound reports whether err says the repository, revision or file does
// not exist.
func IsNotFound(err error) bool {
	var he *Error
	return errors.As(err, &he) && he.Status == http.StatusNotFound
}

// request describes one HTTP exchange.
type request struct {
	method  string
	url     string
	header  http.Header
	noRedir bool   // return 3xx answers instead of following them
	noAuth  bool   // a signed storage URL: never send the token
	body    []byte // sent anew on every attempt
}

// do sends a request with retries. The caller closes the body of a nil-error
// answer. Answers >= 400 (after retries) become *Error.
func (c *Client) do(ctx context.Context, rq request) (*http.Response, error) {
	var lastErr error
	for attempt := 0; ; attempt++ {
		resp, err := c.once(ctx, rq)
		retryable := false
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			lastErr, retryable = err, true
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			lastErr, retryable = errorOf(resp, rq.url), true
			wait = retryAfter(resp.Header.Get("Retry-After"))
			drain(resp)
		case resp.StatusCode >= 400:
			err := errorOf(resp, rq.url)
			drain(resp)
			return nil, err
		default:
			return resp, nil
		}
		if !retryable || attempt >= c.Retries {
			return nil, lastErr
		}
		if wait == 0 {
			wait = c.Backoff << attempt
			wait += time.Duration(rand.Int64N(int64(wait)/4 + 1))
			wait = min(wait, c.MaxBackoff)
		}
		// The server's Retry-After is obeyed, within reason.
		wait = min(wait, maxRetryAfter)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func (c *Client) once(ctx context.Context, rq request) (*http.Response, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.sem }()
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, rq.url, body)
	if err != nil {
		return nil, err
	}
	for k, v := range rq.header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", c.UserAgent)
	req.Header.Set("Accept-Encoding", "identity")
	token := c.Token
	if t, ok := ctx.Value(tokenKey{}).(string); ok {
		token = t
	}
	if token != "" && !rq.noAuth && sameHost(req.URL, c.Endpoint) {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := c.HTTP
	if rq.noRedir {
		cp := *hc
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		hc = &cp
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.received}
	return resp, nil
}

func sameHost(u *url.URL, endpoint string) bool {
	e, err := url.Parse(endpoint)
	return err == nil && strings.EqualFold(u.Host, e.Host)
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// drain discards a small remainder of a body so the connection can be
// reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
}

// errorOf builds an *Error from an error answer; the message comes from
// X-Error-Message, else a JSON {"error": ...} body, else the body's start.
func errorOf(resp *http.Response, u string) *Error {
	e := &Error{Status: resp.StatusCode, Code: resp.Header.Get("X-Error-Code"), Message: resp.Header.Get("X-Error-Message"), URL: u}
	if e.Message == "" {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		e.Message = bodyMessage(body)
	}
	return e
}

// retryAfter parses a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
