package kmip_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/ttlv"
)

func TestServer_HTTPS(t *testing.T) {
	p := kmiptest.MustPKI(t)
	s := kmiptest.Start(t, p, &echoHandler{})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: p.ClientTLS(t, "admin")}}
	url := "https://" + s.Addr + kmip.HTTPPath
	req := request(t, kmip.V2_0, nil, kmip.OperationQuery)
	jsonReq, err := ttlv.AppendJSON(nil, req, false)
	if err != nil {
		t.Fatal(err)
	}
	xmlReq, err := ttlv.AppendXML(nil, req, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ct   string
		body []byte
		back func([]byte) ([]byte, error)
	}{
		{kmip.ContentTypeTTLV, req, func(b []byte) ([]byte, error) { return b, nil }},
		{kmip.ContentTypeJSON, jsonReq, func(b []byte) ([]byte, error) { return ttlv.ParseJSON(b, nil) }},
		{kmip.ContentTypeXML, xmlReq, func(b []byte) ([]byte, error) { return ttlv.ParseXML(b, nil) }},
	} {
		t.Run(tc.ct, func(t *testing.T) {
			// Two requests on one connection: keep-alive works.
			for i := 0; i < 2; i++ {
				resp, err := client.Post(url, tc.ct, bytes.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.ct ||
					resp.Header.Get("Cache-Control") != "no-cache" || resp.ContentLength != int64(len(body)) {
					t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
				}
				msg, err := tc.back(body)
				if err != nil {
					t.Fatalf("response body: %v\n%s", err, body)
				}
				var r kmip.Response
				if err := r.Parse(msg, kmip.Limits{}); err != nil || r.Items[0].Status != kmip.ResultStatusSuccess {
					t.Fatalf("%v %+v", err, r.Items)
				}
				var name []byte
				if !r.Items[0].Payload.ReadText(ttlv.TagVendorIdentification, &name) || string(name) != "admin" {
					t.Fatalf("identity %q", name)
				}
			}
		})
	}
	check := func(method, path, ct, body string, want int) {
		t.Helper()
		r, _ := http.NewRequest(method, "https://"+s.Addr+path, strings.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		resp, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s %s (%s): %d, want %d", method, path, ct, resp.StatusCode, want)
		}
	}
	check("GET", kmip.HTTPPath, "", "", http.StatusMethodNotAllowed)
	check("POST", "/other", kmip.ContentTypeTTLV, "x", http.StatusNotFound)
	check("POST", kmip.HTTPPath, "text/plain", "x", http.StatusUnsupportedMediaType)
	// An undecodable JSON body is a KMIP failure, not an HTTP one.
	resp, err := client.Post(url, kmip.ContentTypeJSON, strings.NewReader(`{"tag":"NoSuchTag"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	msg, err := ttlv.ParseJSON(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	var r kmip.Response
	if err := r.Parse(msg, kmip.Limits{}); err != nil || r.Items[0].Reason != kmip.ResultReasonInvalidMessage {
		t.Fatalf("%v %+v", err, r.Items)
	}
}
