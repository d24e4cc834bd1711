package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv makes the test binary the writer that TestSlots_Kill9
// kills: it writes, replaces and erases secrets until killed.
const crashChildEnv = "KMIPD_STORE_CRASH_CHILD"

// crashSecret is the secret of object id at version v: the parent knows
// it without the child telling.
func crashSecret(id string, v int) []byte {
	a := sha256.Sum256([]byte(fmt.Sprintf("%s/%d/a", id, v)))
	b := sha256.Sum256([]byte(fmt.Sprintf("%s/%d/b", id, v)))
	return append(a[:], b[:]...)
}

var errCrashRollback = errors.New("rolled back on purpose")

// crashChild runs in the child process. Each line it prints is "try" or
// "ack", an object, and the version it writes (-1: no secret, -2: deleted).
func crashChild(path, round string) {
	db, err := Open(path, nil)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	say := func(what, id string, v int) {
		mu.Lock()
		fmt.Printf("%s %s %d\n", what, id, v)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
			vers := map[string]int{}
			var ids []string
			for n := 0; ; n++ {
				var id string
				v := 0
				switch op := r.IntN(10); {
				case op < 4 || len(ids) == 0:
					id = fmt.Sprintf("r%s-w%d-%d", round, w, n)
					ids = append(ids, id)
				case op < 7:
					id = ids[r.IntN(len(ids))]
					v = vers[id] + 1
				case op < 9:
					id, v = ids[r.IntN(len(ids))], -1
				default:
					id, v = ids[r.IntN(len(ids))], -2
				}
				if vers[id] < 0 && v != 0 {
					continue // erased or deleted: left as it is
				}
				rollback := r.IntN(8) == 0
				fn := func(tx *Tx) error {
					var err error
					switch {
					case v == -2:
						err = tx.Delete(id)
					case v == -1:
						err = tx.Put(&Record{ID: id, Data: []byte("erased")})
					default:
						err = tx.Put(&Record{ID: id, Data: []byte("data"), Secret: crashSecret(id, v)})
					}
					if err == nil && rollback {
						err = errCrashRollback
					}
					return err
				}
				if !rollback {
					say("try", id, v)
				}
				var err error
				if r.IntN(2) == 0 {
					err = db.UpdateGrouped(fn)
				} else {
					err = db.Update(fn)
				}
				if rollback {
					if v == 0 {
						ids = ids[:len(ids)-1]
					}
					continue
				}
				if err != nil {
					say("fail", id, v)
					os.Exit(3)
				}
				vers[id] = v
				say("ack", id, v)
			}
		}()
	}
	wg.Wait()
}

// A writer killed with SIGKILL at random points leaves a store where every
// acknowledged secret opens, and, once reopened, no key slot holds a key
// that no record uses: the slot is synced before the commit and the
// erasure before Update returns, and Open settles what was in flight.
func TestSlots_Kill9(t *testing.T) {
	if p := os.Getenv(crashChildEnv); p != "" {
		path, round, _ := strings.Cut(p, "|")
		crashChild(path, round)
		return
	}
	path := filepath.Join(t.TempDir(), "kmipd.db")
	type state struct{ acked, tried int }
	model := map[string]*state{}
	// At least rounds kills, and more (up to 40) until the child has
	// written enough, however loaded the machine is.
	rounds, want := 8, 300
	if testing.Short() {
		rounds, want = 3, 50
	}
	total := 0
	for round := 0; round < rounds || total < want && round < 40; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSlots_Kill9$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path+"|"+strconv.Itoa(round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Killed at a random point once it writes (however slow the
		// machine is to start it), or after 30 s whatever it did.
		kill := func() { _ = cmd.Process.Signal(syscall.SIGKILL) }
		guard := time.AfterFunc(30*time.Second, kill)
		sc := bufio.NewScanner(out)
		lines := 0
		for sc.Scan() {
			if lines == 0 {
				guard.Stop()
				time.AfterFunc(time.Duration(50+rand.IntN(400))*time.Millisecond, kill)
			}
			f := strings.Fields(sc.Text())
			if len(f) != 3 {
				continue // the kill cut the last line
			}
			v, _ := strconv.Atoi(f[2])
			s := model[f[1]]
			if s == nil {
				s = &state{acked: -3}
				model[f[1]] = s
			}
			switch f[0] {
			case "try":
				s.tried = v
			case "ack":
				s.acked, s.tried = v, -3
			default:
				t.Fatalf("child: %q", sc.Text())
			}
			lines++
		}
		_ = cmd.Wait()
		if lines == 0 {
			t.Fatalf("round %d: the child wrote nothing before it was killed", round)
		}
		total += lines

		db, err := Open(path, &Options{NoSync: true})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if err := db.Check(); err != nil {
			t.Fatalf("round %d: check after the kill: %v", round, err)
		}
		checked := 0
		err = db.View(func(tx *Tx) error {
			for id, s := range model {
				r, err := tx.Get(id)
				got := -2 // deleted or never committed
				if err == nil {
					got = -1
					if r.Secret != nil {
						got = -9
						for _, v := range []int{s.acked, s.tried} {
							if v >= 0 && bytes.Equal(r.Secret, crashSecret(id, v)) {
								got = v
							}
						}
					}
				} else if !errors.Is(err, ErrNotFound) {
					return fmt.Errorf("%s: %w", id, err)
				}
				if got != s.acked && (s.tried == -3 || got != s.tried) {
					if s.acked == -3 && got == -2 {
						continue // never acknowledged, never committed
					}
					return fmt.Errorf("%s: state %d after the kill, acknowledged %d, in flight %d", id, got, s.acked, s.tried)
				}
				if got != s.acked {
					s.acked = got // the write in flight had committed
				}
				s.tried = -3
				if got >= 0 {
					checked++
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		// No slot on disk holds a key that no record uses.
		onDisk, err := os.ReadFile(KeysPath(path))
		if err != nil {
			t.Fatal(err)
		}
		used := map[uint64]bool{}
		_ = db.View(func(tx *Tx) error {
			return tx.objects().ForEach(func(k, raw []byte) error {
				r, err := decodeRecord(string(k), raw, false)
				if err == nil && r.sealed != nil {
					i, _ := parseSealed(r.sealed)
					used[i] = true
				}
				return err
			})
		})
		for off := slotSize; off+slotSize <= len(onDisk); off += slotSize {
			i := uint64(off/slotSize - 1)
			nonzero := !bytes.Equal(onDisk[off:off+slotSize], make([]byte, slotSize))
			if nonzero != used[i] {
				t.Fatalf("round %d: slot %d on disk: in use %v, used by a record %v", round, i, nonzero, used[i])
			}
		}
		db.Close()
		t.Logf("round %d: %d lines, %d secrets checked, %d slots in use", round, lines, checked, len(used))
	}
	if total < want/2 {
		t.Fatalf("the child wrote only %d lines in all", total)
	}
}
