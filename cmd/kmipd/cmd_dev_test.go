package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/internal/scalebench"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// TestDevFill fills a store, serves it and finds the keys by Name and by
// the custom attribute; a filled key has the attributes of a key the
// server creates from the same request.
func TestDevFill(t *testing.T) {
	dir := initDir(t)
	out, err := runCLI("dev", "fill", "--dir", dir, "--count", "25", "--batch", "10")
	if err != nil {
		t.Fatalf("dev fill: %v\n%s", err, out)
	}
	if !strings.Contains(out, "filled 25 keys") {
		t.Fatalf("dev fill said %q", out)
	}
	if _, err := runCLI("dev", "fill", "--dir", dir, "--count", "0"); err == nil {
		t.Fatal("dev fill --count 0 succeeded")
	}
	c := dialKMIP(t, dir, serveDir(t, dir))
	objs := scalebench.Default
	locate := func(payload func(b *ttlv.Builder)) []string {
		t.Helper()
		p, err := c.Call(kmip.OperationLocate, payload)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for !p.Empty() {
			it, _ := p.Next()
			if it.Tag == ttlv.TagUniqueIdentifier {
				ids = append(ids, string(it.Data))
			}
		}
		return ids
	}
	ids := locate(objs.LocateByName(7))
	if len(ids) != 1 {
		t.Fatalf("Locate by Name %s: %v", objs.Name(7), ids)
	}
	typ, _, key, err := getMaterial(c, ids[0])
	if err != nil || typ != kmip.ObjectTypeSymmetricKey || len(key) != 16 {
		t.Fatalf("Get of %s: %s, %d bytes, %v", objs.Name(7), typ, len(key), err)
	}
	if g := locate(objs.LocateByAttr(21)); len(g) != 5 { // keys 20 to 24
		t.Fatalf("Locate by x-%s=%s found %d keys, want 5", objs.Attr, objs.Group(21), len(g))
	}
	p, err := c.Call(kmip.OperationCreate, objs.Create(1000))
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := p.Find(ttlv.TagUniqueIdentifier)
	createdID := string(uid.Data) // the payload is valid until the next call
	filled, created := attrTags(t, c, ids[0]), attrTags(t, c, createdID)
	if filled == "" || filled != created {
		t.Fatalf("a filled key has attributes %s, a created one %s", filled, created)
	}
}

// attrTags lists the attributes of id, by tag (vendor attributes by name).
func attrTags(t *testing.T, c *kmip.Client, id string) string {
	t.Helper()
	p, err := c.Call(kmip.OperationGetAttributes, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	attrs, ok := p.Find(ttlv.TagAttributes)
	if !ok {
		t.Fatalf("no Attributes for %s", id)
	}
	var tags []string
	v := attrs.Children()
	for !v.Empty() {
		it, _ := v.Next()
		name := it.Tag.String()
		if it.Tag == ttlv.TagAttribute {
			n, _ := it.Children().Find(ttlv.TagAttributeName)
			name = "x-" + string(n.Data)
		}
		tags = append(tags, name)
	}
	return strings.Join(tags, ",")
}

// dev fill writes the bbolt file the store setting names, bbolt: prefix
// included, and refuses an etcd store with what to do instead.
func TestDevFill_StoreSetting(t *testing.T) {
	dir := initDir(t)
	file := filepath.Join(t.TempDir(), "other.db")
	t.Setenv("KMIPD_STORE", "bbolt:"+file)
	if out, err := runCLI("dev", "fill", "--dir", dir, "--count", "3"); err != nil || !strings.Contains(out, "filled 3 keys") {
		t.Fatalf("dev fill into bbolt:%s: %v\n%s", file, err, out)
	}
	if st, err := store.CheckFile(file); err != nil || st.Objects != 3 {
		t.Fatalf("%s: %+v, %v; want 3 objects", file, st, err)
	}
	t.Setenv("KMIPD_STORE", "etcd://127.0.0.1:1")
	if _, err := runCLI("dev", "fill", "--dir", dir, "--count", "3"); err == nil || !strings.Contains(err.Error(), "kmipd store migrate") {
		t.Fatalf("dev fill into an etcd store: %v, want a refusal pointing at store migrate", err)
	}
}
