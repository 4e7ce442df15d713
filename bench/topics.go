package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Phase 7: topics and presence.
//
// For each size N, the first N sessions each watch their own TopicFeed
// subscribed to topic "tN", and all N watch one more component. Rounds
// interleave three deliveries to the same N clients, in a rotating order:
// Publish to tN (every subscriber runs HandleTopic and is rendered again;
// its one watcher gets the update), Broadcast of a payload of the update's
// size to the shared component (one message, N watchers), and Broadcast to
// each of the N subscribers (N calls, one watcher each, no rendering).
// Then N more watched TopicFeeds subscribe to another topic, and Publish
// and Broadcast to tN run again. Presence: P sessions each watch a Member
// tracked in PresenceTopic; a few Online instances, subscribed to it and
// each watched by one client of their own, show how many are present; a
// client then starts watching one more Member (a join) and goes away (a
// leave).

// topicSide is one kind of delivery over the counted rounds.
type topicSide struct {
	lats     []time.Duration // request sent → last client has it
	cpu      []float64       // server CPU ns per delivery, per round
	allocs   []float64       // server allocations per delivery, per round
	bytes    []float64       // mean payload bytes a client received, per round
	timeouts int
}

func (s *topicSide) add(r roundResult, n int) {
	if !r.ok {
		s.timeouts++
		return
	}
	s.lats = append(s.lats, r.lat)
	s.cpu = append(s.cpu, float64(r.after.CPUNs-r.before.CPUNs)/float64(n))
	s.allocs = append(s.allocs, float64(r.after.Mallocs-r.before.Mallocs)/float64(n))
	s.bytes = append(s.bytes, r.bytes/float64(n))
}

type topicResult struct {
	subs      int
	rounds    int
	publish   topicSide
	broadcast topicSide
	each      topicSide
	ratios    []float64 // per round: publish / broadcast latency
	size      int       // the Broadcast payload's size
	calls     int64     // HandleTopic calls for the topic over every round (warm-up included)
	publishes int       // publishes over every round

	ids  []string // the subscribers, watched by sessions[i]
	feed string   // the shared component
}

type bystanderResult struct {
	subs, others    int
	with            topicResult // publish and broadcast only
	otherCalls      int64       // HandleTopic calls of the other topic over the rounds
	subCalls        int64       // and of the measured one
	publishes       int
	withoutRatioMed float64
}

type presenceResult struct {
	present, subscribers, rounds int
	join, leave                  topicSide // subscribers counting with Presence
	incJoin, incLeave            topicSide // subscribers counting from the changes
	changeBytes                  int64     // JSON of one presence change
	presenceNs                   float64   // one Presence call on the server
	listed                       int       // entries Presence returned
	firstBytes                   int       // an Online watcher's first rendering
	members                      []string  // the members, watched by the first sessions
}

type topicsResults struct {
	sizes     []topicResult
	bystander *bystanderResult
	presence  *presenceResult
	room      *roomResult
	mass      *massResult
	bursts    []burstResult
}

// roundResult is one timed delivery.
type roundResult struct {
	ok            bool
	lat           time.Duration
	bytes         float64 // payload bytes received, all clients together
	before, after memReport
}

// timed arms f for want messages, reads the server's stats, runs fire,
// waits until the last message arrived (or timeout), and reads the stats
// again.
func (l *load) timed(ctx context.Context, f *fanState, want int, timeout time.Duration, fire func(seq int64) error) (roundResult, error) {
	var r roundResult
	l.seq++
	seq := l.seq
	f.arm(seq, want)
	var err error
	if r.before, err = l.stats(); err != nil {
		return r, err
	}
	t0 := time.Now()
	if err := fire(seq); err != nil {
		return r, err
	}
	select {
	case t := <-f.done:
		r.ok, r.lat = true, t.Sub(t0)
	case <-time.After(timeout):
	case <-ctx.Done():
		return r, ctx.Err()
	}
	r.bytes = float64(f.bytes.Load())
	if r.after, err = l.stats(); err != nil {
		return r, err
	}
	time.Sleep(20 * time.Millisecond)
	return r, nil
}

func (l *load) publishTopic(topic string, seq int64) error {
	_, err := l.post("/ctl/publish", url.Values{"topic": {topic}, "seq": {strconv.FormatInt(seq, 10)}, "text": {"update"}})
	return err
}

func (l *load) broadcastEach(group string, seq int64, size int) error {
	_, err := l.post("/ctl/broadcast-each", url.Values{"group": {group}, "seq": {strconv.FormatInt(seq, 10)}, "size": {strconv.Itoa(size)}})
	return err
}

func (l *load) topicCalls(topic string) (int64, error) {
	var r topicReport
	err := l.getJSON("/ctl/topic?topic="+url.QueryEscape(topic), &r)
	return r.Calls, err
}

// watchAll makes sessions[i] watch ids[i] and waits for their first
// renderings.
func (l *load) watchAll(ctx context.Context, ids []string, what string) error {
	base := l.updates.Load()
	for i, id := range ids {
		if err := l.sessions[i].c.WriteText(initMsg(id)); err != nil {
			return err
		}
	}
	return l.waitUpdates(ctx, base+int64(len(ids)), what)
}

// topics runs phase 7.
func (l *load) topics(ctx context.Context) (*topicsResults, error) {
	out := &topicsResults{}
	maxN := 0
	for _, n := range l.cfg.topicSubs {
		maxN = max(maxN, n)
	}
	if err := l.addSessions(ctx, max(maxN, l.cfg.present), nil); err != nil {
		return nil, err
	}
	for _, n := range l.cfg.topicSubs {
		l.logf("phase 7: topic with %d subscribers, %d rounds", n, l.cfg.topicRounds)
		tr, err := l.topicSize(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("topic with %d subscribers: %w", n, err)
		}
		out.sizes = append(out.sizes, tr)
	}
	big := out.sizes[0]
	for _, tr := range out.sizes {
		if tr.subs > big.subs {
			big = tr
		}
	}
	l.logf("phase 7: topic with %d subscribers and %d watched instances subscribed elsewhere", big.subs, big.subs)
	br, err := l.bystanders(ctx, big)
	if err != nil {
		return nil, fmt.Errorf("unsubscribed instances: %w", err)
	}
	out.bystander = br
	l.logf("phase 8: presence, %d present, %d subscribers", l.cfg.present, l.cfg.presenceSubs)
	pr, err := l.presence(ctx)
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	out.presence = pr
	l.logf("phase 9: a room of %d (the chat example's component)", l.cfg.room)
	if out.room, err = l.room(ctx); err != nil {
		return nil, fmt.Errorf("room: %w", err)
	}
	if out.mass, err = l.mass(ctx, pr.members); err != nil {
		return nil, fmt.Errorf("presence at size: %w", err)
	}
	if out.bursts, err = l.bursts(ctx); err != nil {
		return nil, fmt.Errorf("bursts: %w", err)
	}
	return out, nil
}

// topicSize sets up n subscribers of topic "t<n>" and one shared component,
// all watched by the first n sessions, and times interleaved rounds.
func (l *load) topicSize(ctx context.Context, n int) (topicResult, error) {
	tr := topicResult{subs: n, rounds: l.cfg.topicRounds}
	topic, group := "t"+strconv.Itoa(n), "subs-"+strconv.Itoa(n)
	ids, err := l.mountIn("topicfeed", n, topic, group)
	if err != nil {
		return tr, err
	}
	if err := l.watchAll(ctx, ids, "init of the subscribers"); err != nil {
		return tr, err
	}
	feeds, err := l.mount("feed", 1)
	if err != nil {
		return tr, err
	}
	feed := feeds[0]
	tr.ids, tr.feed = ids, feed
	shared := make([]string, n)
	for i := range shared {
		shared[i] = feed
	}
	if err := l.watchAll(ctx, shared, "init of the shared component"); err != nil {
		return tr, err
	}
	for i, id := range ids {
		ref := []byte(`{"type":"update","componentID":"` + id + `"`)
		l.sessions[i].topicRef.Store(&ref)
	}
	defer func() {
		for _, s := range l.sessions[:n] {
			s.topicRef.Store(nil)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	calls0, err := l.topicCalls(topic)
	if err != nil {
		return tr, err
	}

	timeout := 10*time.Second + time.Duration(n)*time.Millisecond
	pub := func() (roundResult, error) {
		tr.publishes++
		return l.timed(ctx, &l.topic, n, timeout, func(seq int64) error { return l.publishTopic(topic, seq) })
	}
	bc := func() (roundResult, error) {
		return l.timed(ctx, &l.fan, n, timeout, func(seq int64) error { _, err := l.broadcast(feed, seq, tr.size, 1); return err })
	}
	each := func() (roundResult, error) {
		return l.timed(ctx, &l.fan, n, timeout, func(seq int64) error { return l.broadcastEach(group, seq, tr.size) })
	}
	// Warm-up: two publishes; the second gives the update's size, which
	// the broadcasts then send (the first may be a full rendering).
	var sizes []float64
	for range 2 {
		r, err := pub()
		if err != nil {
			return tr, err
		}
		if !r.ok {
			return tr, fmt.Errorf("warm-up publish: %d of %d clients never got the update", l.topic.remaining.Load(), n)
		}
		sizes = append(sizes, r.bytes/float64(n))
	}
	tr.size = int(sizes[len(sizes)-1] + 0.5)
	for range 2 {
		if _, err := bc(); err != nil {
			return tr, err
		}
		if _, err := each(); err != nil {
			return tr, err
		}
	}
	l.profile(fmt.Sprintf("topic-%d", n))
	for r := range l.cfg.topicRounds {
		var pr, br roundResult
		for k := range 3 {
			var err error
			switch (r + k) % 3 {
			case 0:
				pr, err = pub()
				tr.publish.add(pr, n)
			case 1:
				br, err = bc()
				tr.broadcast.add(br, n)
			case 2:
				var er roundResult
				er, err = each()
				tr.each.add(er, n)
			}
			if err != nil {
				l.profile("")
				return tr, err
			}
		}
		if pr.ok && br.ok {
			tr.ratios = append(tr.ratios, float64(pr.lat)/float64(br.lat))
		}
	}
	l.profile("")
	calls1, err := l.topicCalls(topic)
	if err != nil {
		return tr, err
	}
	tr.calls = calls1 - calls0
	return tr, nil
}

// bystanders mounts as many TopicFeeds as big has subscribers, subscribed
// to another topic and watched by the same sessions, and times Publish and
// Broadcast to big's topic again.
func (l *load) bystanders(ctx context.Context, big topicResult) (*bystanderResult, error) {
	n := big.subs
	br := &bystanderResult{subs: n, others: n}
	br.with = topicResult{subs: n, rounds: l.cfg.topicRounds, size: big.size}
	topic, other := "t"+strconv.Itoa(n), "other"
	ids, err := l.mountIn("topicfeed", n, other, "")
	if err != nil {
		return nil, err
	}
	if err := l.watchAll(ctx, ids, "init of the instances subscribed elsewhere"); err != nil {
		return nil, err
	}
	for i, id := range big.ids {
		ref := []byte(`{"type":"update","componentID":"` + id + `"`)
		l.sessions[i].topicRef.Store(&ref)
	}
	defer func() {
		for _, s := range l.sessions[:n] {
			s.topicRef.Store(nil)
		}
	}()
	feed := big.feed
	time.Sleep(200 * time.Millisecond)
	o0, err := l.topicCalls(other)
	if err != nil {
		return nil, err
	}
	s0, err := l.topicCalls(topic)
	if err != nil {
		return nil, err
	}
	timeout := 10*time.Second + time.Duration(n)*time.Millisecond
	tr := &br.with
	for r := range 2 + l.cfg.topicRounds {
		var pr, bcr roundResult
		for k := range 2 {
			var err error
			if (r+k)%2 == 0 {
				br.publishes++
				pr, err = l.timed(ctx, &l.topic, n, timeout, func(seq int64) error { return l.publishTopic(topic, seq) })
			} else {
				bcr, err = l.timed(ctx, &l.fan, n, timeout, func(seq int64) error { _, err := l.broadcast(feed, seq, tr.size, 1); return err })
			}
			if err != nil {
				return nil, err
			}
		}
		if r < 2 {
			continue
		}
		tr.publish.add(pr, n)
		tr.broadcast.add(bcr, n)
		if pr.ok && bcr.ok {
			tr.ratios = append(tr.ratios, float64(pr.lat)/float64(bcr.lat))
		}
	}
	o1, err := l.topicCalls(other)
	if err != nil {
		return nil, err
	}
	s1, err := l.topicCalls(topic)
	if err != nil {
		return nil, err
	}
	br.otherCalls, br.subCalls = o1-o0, s1-s0
	br.withoutRatioMed = medianF(big.ratios)
	return br, nil
}

// presence tracks cfg.present Members, watched by as many sessions, then
// times joins and leaves as cfg.presenceSubs Online watchers see them:
// first Online instances that count from the changes, then others that
// count with Presence.
func (l *load) presence(ctx context.Context) (*presenceResult, error) {
	p := l.cfg.present
	pr := &presenceResult{present: p, subscribers: l.cfg.presenceSubs, rounds: l.cfg.presenceRounds}
	ids, err := l.mount("member", p)
	if err != nil {
		return nil, err
	}
	if err := l.watchAll(ctx, ids, "init of the members"); err != nil {
		return nil, err
	}
	// Joins happen as the watchers start: wait until every one is listed.
	var rep topicReport
	for wait := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := l.getJSON("/ctl/topic?presence=1&topic="+PresenceTopic, &rep); err != nil {
			return nil, err
		}
		if rep.Present >= p {
			break
		}
		if time.Now().After(wait) {
			return nil, fmt.Errorf("%d of %d members present after 30 s", rep.Present, p)
		}
	}
	if err := l.presenceRounds(ctx, "inc", &pr.incJoin, &pr.incLeave, pr); err != nil {
		return nil, err
	}
	if err := l.presenceRounds(ctx, "", &pr.join, &pr.leave, pr); err != nil {
		return nil, err
	}
	if err := l.getJSON("/ctl/topic?presence=1&topic="+PresenceTopic, &rep); err != nil {
		return nil, err
	}
	pr.changeBytes, pr.presenceNs, pr.listed = rep.ChangeBytes, rep.PresenceNs, rep.Present
	pr.members = ids
	return pr, nil
}

// presenceRounds mounts cfg.presenceSubs Online instances (mode "inc":
// counting from the changes), each watched by a client of its own, times
// joins and leaves, and has them unsubscribe.
func (l *load) presenceRounds(ctx context.Context, mode string, join, leave *topicSide, pr *presenceResult) error {
	onlines, err := l.mountIn("online", l.cfg.presenceSubs, mode, "")
	if err != nil {
		return err
	}
	var clients []*wsClient
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for _, id := range onlines {
		c, err := dialRetry(ctx, l.srv.addr, 0)
		if err != nil {
			return err
		}
		clients = append(clients, c)
		if err := c.WriteText(initMsg(id)); err != nil {
			return err
		}
		first, err := readUntil(c, updatePrefix, 10*time.Second)
		if err != nil {
			return err
		}
		pr.firstBytes = len(first)
		ref := []byte(`{"type":"update","componentID":"` + id + `"`)
		go func() {
			for {
				msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				if bytes.HasPrefix(msg, ref) {
					l.pres.hitBytes(l.pres.seq.Load(), len(msg))
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)

	timeout := 10 * time.Second
	w := l.cfg.presenceSubs
	for r := range 2 + l.cfg.presenceRounds {
		joiner, err := dialRetry(ctx, l.srv.addr, 0)
		if err != nil {
			return err
		}
		m, err := l.mount("member", 1)
		if err != nil {
			joiner.Close()
			return err
		}
		jr, err := l.timed(ctx, &l.pres, w, timeout, func(int64) error { return joiner.WriteText(initMsg(m[0])) })
		if err != nil {
			joiner.Close()
			return err
		}
		lr, err := l.timed(ctx, &l.pres, w, timeout, func(int64) error { return joiner.Close() })
		if err != nil {
			return err
		}
		if r >= 2 {
			join.add(jr, w)
			leave.add(lr, w)
		}
	}
	// Any message that is not a presence change makes them unsubscribe,
	// so that later joins and leaves (the sessions closed at the end
	// among them) do not reach them.
	var rep topicReport
	if err := l.getJSON("/ctl/topic?topic="+PresenceTopic, &rep); err != nil {
		return err
	}
	c0 := rep.Calls
	if err := l.publishTopic(PresenceTopic, 0); err != nil {
		return err
	}
	for wait := time.Now().Add(10 * time.Second); rep.Calls < c0+int64(w) && time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
		if err := l.getJSON("/ctl/topic?topic="+PresenceTopic, &rep); err != nil {
			return err
		}
	}
	return nil
}
