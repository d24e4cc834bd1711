package audit

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// CopyReport summarizes a copy of the trail's records checked against the
// trail (VerifyCopy).
type CopyReport struct {
	Lines             int    // records in the copy
	Matched           int    // distinct records identical to the trail's
	Duplicates        int    // records the copy holds more than once (a sink resends a batch after a reconnect)
	FirstSeq, LastSeq uint64 // the copy's first and last seq
	// Missing counts the trail's records between FirstSeq and LastSeq the
	// copy lacks (a sink dropped them); MissingRanges lists the first ten
	// ranges ("12-15").
	Missing       int
	MissingRanges []string
}

// maxMissingRanges bounds CopyReport.MissingRanges.
const maxMissingRanges = 10

// VerifyCopy checks a copy of the trail's records, as its sinks streamed
// them (one per line; anything before a line's first '{', such as a
// syslog header, is ignored), against the trail: every record of the copy
// must be byte for byte the trail's line of the same seq, in the trail's
// order. The trail's own chain and signatures are VerifyFile's business:
// a copy that matches a verified trail is as good as it. It fails with a
// *LineError naming the copy's first bad line.
func VerifyCopy(trail, copy io.Reader) (*CopyReport, error) {
	rep := &CopyReport{}
	tr := bufio.NewReaderSize(trail, 64<<10)
	cr := bufio.NewReaderSize(copy, 64<<10)
	var tline []byte // the trail's current line
	var tseq uint64  // its seq (0: none read yet)
	tEOF := false
	nextTrail := func() error {
		l, err := tr.ReadBytes('\n')
		if err == io.EOF {
			tEOF = true // an incomplete last line is a record being written
			return nil
		}
		if err != nil {
			return err
		}
		tline = bytes.TrimSuffix(l, []byte("\n"))
		s, ok := lineSeq(tline)
		if !ok || s <= tseq {
			return fmt.Errorf("the trail's line with seq %d is not a record in order: verify the trail", s)
		}
		tseq = s
		return nil
	}
	var gaps [][2]uint64 // the first maxMissingRanges ranges of missing seqs
	defer func() {
		for _, g := range gaps {
			r := strconv.FormatUint(g[0], 10)
			if g[1] > g[0] {
				r += "-" + strconv.FormatUint(g[1], 10)
			}
			rep.MissingRanges = append(rep.MissingRanges, r)
		}
	}()
	missing := func(seq uint64) {
		rep.Missing++
		if n := len(gaps); n > 0 && gaps[n-1][1] == seq-1 {
			gaps[n-1][1] = seq
		} else if n < maxMissingRanges {
			gaps = append(gaps, [2]uint64{seq, seq})
		}
	}
	for n := 1; ; n++ {
		l, err := cr.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return rep, err
		}
		l = bytes.TrimRight(l, "\r\n")
		if len(l) == 0 {
			if err == io.EOF {
				return rep, nil
			}
			n--
			continue
		}
		if i := bytes.IndexByte(l, '{'); i > 0 {
			l = l[i:]
		}
		seq, ok := lineSeq(l)
		if !ok {
			return rep, &LineError{Line: n, Msg: "not an audit record"}
		}
		rep.Lines++
		switch {
		case rep.LastSeq != 0 && seq < rep.LastSeq:
			return rep, &LineError{Line: n, Seq: seq, Msg: fmt.Sprintf("out of order: after seq %d", rep.LastSeq)}
		case seq == rep.LastSeq:
			if !bytes.Equal(l, tline) {
				return rep, &LineError{Line: n, Seq: seq, Msg: "a second copy of the record that differs from the first"}
			}
			rep.Duplicates++
		default:
			for !tEOF && tseq < seq {
				if rep.FirstSeq != 0 && tseq > rep.LastSeq {
					missing(tseq)
				}
				if err := nextTrail(); err != nil {
					return rep, err
				}
			}
			if tseq != seq || tEOF && tseq < seq {
				return rep, &LineError{Line: n, Seq: seq, Msg: "not in the trail"}
			}
			if !bytes.Equal(l, tline) {
				return rep, &LineError{Line: n, Seq: seq, Msg: "differs from the trail's record"}
			}
			if rep.FirstSeq == 0 {
				rep.FirstSeq = seq
			}
			rep.LastSeq = seq
			rep.Matched++
		}
		if err == io.EOF {
			return rep, nil
		}
	}
}

// lineSeq reads the seq a line starts with: {"seq":N,
func lineSeq(l []byte) (uint64, bool) {
	const prefix = `{"seq":`
	if !bytes.HasPrefix(l, []byte(prefix)) {
		return 0, false
	}
	rest := l[len(prefix):]
	i := bytes.IndexByte(rest, ',')
	if i <= 0 {
		return 0, false
	}
	s, err := strconv.ParseUint(string(rest[:i]), 10, 64)
	return s, err == nil && s > 0
}
