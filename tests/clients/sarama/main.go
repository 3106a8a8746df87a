// The client-matrix scenario for sarama as Debian packages it
// (golang-github-shopify-sarama-dev, built in GOPATH mode against
// /usr/share/gocode).
//
// Usage: sarama-scenario <first|second> <bootstrap> <topic> <group>
// One line per step on stdout; on any failure the reason on stderr and exit 1.
//
// sarama of this age has no synchronous commit: a consumer group session
// commits what it marked when it ends. The scenario therefore reads the
// committed offsets back (OffsetFetch) after the session, which is where a
// broker that refuses the client's OffsetCommit version shows.
//
// Request versions this sarama (1.22.1, told Kafka 2.1) sends: Produce v3,
// Fetch v4, ListOffsets v1, Metadata v5 (v0 in ListTopics), CreateTopics v2,
// DeleteTopics v1, DescribeConfigs v0 (ListTopics), FindCoordinator v0,
// JoinGroup v1, SyncGroup/Heartbeat/LeaveGroup v0, OffsetFetch v1,
// OffsetCommit v1 (v2 only when Consumer.Offsets.Retention is set, which
// this scenario leaves at its default, as most users do), ListGroups and
// DescribeGroups v0, InitProducerId v0. Kafka 3.9 accepts all of them;
// Kafka 4.0 dropped OffsetCommit v0-v1 and DescribeConfigs v0 (KIP-896).
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

const (
	clientName     = "sarama"
	partitionCount = 3
	// Every step of the convention ends within this.
	stepTimeout = 60 * time.Second
)

type scenario struct {
	bootstrap string
	topic     string
	group     string
}

func fail(format string, arguments ...interface{}) {
	fmt.Fprintf(os.Stderr, clientName+": "+format+"\n", arguments...)
	os.Exit(1)
}

// step runs work under the convention's timeout and exits on its failure.
func step(name string, work func() error) {
	done := make(chan error, 1)
	go func() { done <- work() }()
	select {
	case err := <-done:
		if err != nil {
			fail("%s: %v", name, err)
		}
	case <-time.After(stepTimeout):
		fail("%s: no result within %s", name, stepTimeout)
	}
}

func (s *scenario) config() *sarama.Config {
	config := sarama.NewConfig()
	config.ClientID = "corelog-client-matrix-sarama"
	// The newest Kafka version this sarama knows but one; it picks its
	// request versions from this, not from ApiVersions.
	config.Version = sarama.V2_1_0_0
	return config
}

func (s *scenario) admin() (sarama.ClusterAdmin, error) {
	return sarama.NewClusterAdmin([]string{s.bootstrap}, s.config())
}

func (s *scenario) createTopic() error {
	admin, err := s.admin()
	if err != nil {
		return fmt.Errorf("admin client: %v", err)
	}
	defer admin.Close()
	detail := &sarama.TopicDetail{NumPartitions: partitionCount, ReplicationFactor: 1}
	if err := admin.CreateTopic(s.topic, detail, false); err != nil {
		return err
	}
	fmt.Printf("create topic %s with %d partitions: ok\n", s.topic, partitionCount)
	return nil
}

func (s *scenario) produce(start, end int) error {
	config := s.config()
	config.Producer.Idempotent = true
	config.Producer.RequiredAcks = sarama.WaitForAll
	config.Producer.Retry.Max = 5
	config.Producer.Return.Successes = true
	// The idempotent producer needs one request in flight per broker.
	config.Net.MaxOpenRequests = 1
	producer, err := sarama.NewSyncProducer([]string{s.bootstrap}, config)
	if err != nil {
		return fmt.Errorf("producer: %v", err)
	}
	var messages []*sarama.ProducerMessage
	for index := start; index < end; index++ {
		messages = append(messages, &sarama.ProducerMessage{
			Topic: s.topic,
			Key:   sarama.StringEncoder(fmt.Sprintf("k%d", index)),
			Value: sarama.StringEncoder(fmt.Sprintf("%s:%d", clientName, index)),
		})
	}
	if err := producer.SendMessages(messages); err != nil {
		producer.Close()
		return fmt.Errorf("not every record was acknowledged: %v", err)
	}
	if err := producer.Close(); err != nil {
		return fmt.Errorf("close producer: %v", err)
	}
	fmt.Printf("produce %d keyed records (idempotent, acks=all), i in %d..%d: all acknowledged\n", end-start, start, end)
	return nil
}

// groupReader is the consumer group handler: it checks every record against
// the expected range, marks it, and cancels the session once all arrived.
type groupReader struct {
	scenario   *scenario
	start, end int
	lock       sync.Mutex
	seen       map[int]bool
	nextOffset map[int32]int64
	problem    error
	finish     context.CancelFunc
}

func (r *groupReader) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (r *groupReader) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (r *groupReader) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for message := range claim.Messages() {
		r.lock.Lock()
		r.check(message)
		session.MarkMessage(message, "")
		r.nextOffset[message.Partition] = message.Offset + 1
		if r.problem != nil || len(r.seen) == r.end-r.start {
			r.finish()
		}
		r.lock.Unlock()
	}
	return nil
}

func (r *groupReader) check(message *sarama.ConsumerMessage) {
	if r.problem != nil {
		return
	}
	value := string(message.Value)
	index, err := strconv.Atoi(strings.TrimPrefix(value, clientName+":"))
	if err != nil || !strings.HasPrefix(value, clientName+":") {
		r.problem = fmt.Errorf("unexpected value %q", value)
		return
	}
	if index < r.start || index >= r.end {
		reason := "never produced"
		if index < r.start {
			reason = "the committed offsets were lost"
		}
		r.problem = fmt.Errorf("received value %q (partition %d offset %d), outside %d..%d: %s",
			value, message.Partition, message.Offset, r.start, r.end, reason)
		return
	}
	if key := string(message.Key); key != fmt.Sprintf("k%d", index) {
		r.problem = fmt.Errorf("value %q arrived with key %q", value, key)
		return
	}
	if r.seen[index] {
		r.problem = fmt.Errorf("value %q received twice", value)
		return
	}
	r.seen[index] = true
}

func (s *scenario) consume(start, end int) error {
	config := s.config()
	config.Consumer.Offsets.Initial = sarama.OffsetOldest
	config.Consumer.Return.Errors = true
	group, err := sarama.NewConsumerGroup([]string{s.bootstrap}, s.group, config)
	if err != nil {
		return fmt.Errorf("consumer group: %v", err)
	}
	var groupErrors []error
	var errorsLock sync.Mutex
	go func() {
		for err := range group.Errors() {
			errorsLock.Lock()
			groupErrors = append(groupErrors, err)
			errorsLock.Unlock()
		}
	}()
	sessionContext, cancel := context.WithCancel(context.Background())
	reader := &groupReader{scenario: s, start: start, end: end, seen: map[int]bool{},
		nextOffset: map[int32]int64{}, finish: cancel}
	// Consume returns at every rebalance: join again until the reader is done.
	for sessionContext.Err() == nil {
		if err := group.Consume(sessionContext, []string{s.topic}, reader); err != nil {
			cancel()
			group.Close()
			return fmt.Errorf("consume: %v", err)
		}
	}
	// Ending the session committed what was marked; closing leaves the group.
	if err := group.Close(); err != nil {
		return fmt.Errorf("close consumer group: %v", err)
	}
	reader.lock.Lock()
	defer reader.lock.Unlock()
	if reader.problem != nil {
		return reader.problem
	}
	fmt.Printf("consume in group %s: values %d..%d each once with their keys; consumer closed\n", s.group, start, end)
	errorsLock.Lock()
	defer errorsLock.Unlock()
	firstError := "none"
	if len(groupErrors) > 0 {
		firstError = fmt.Sprintf("%d, the first: %v", len(groupErrors), groupErrors[0])
	}

	admin, err := s.admin()
	if err != nil {
		return fmt.Errorf("admin client: %v", err)
	}
	defer admin.Close()
	partitions := []int32{}
	for partition := range reader.nextOffset {
		partitions = append(partitions, partition)
	}
	committed, err := admin.ListConsumerGroupOffsets(s.group, map[string][]int32{s.topic: partitions})
	if err != nil {
		return fmt.Errorf("read back the committed offsets: %v", err)
	}
	for partition, next := range reader.nextOffset {
		block := committed.GetBlock(s.topic, partition)
		if block == nil || block.Err != sarama.ErrNoError || block.Offset != next {
			found := "nothing"
			if block != nil {
				found = fmt.Sprintf("offset %d (error code %d)", block.Offset, block.Err)
			}
			return fmt.Errorf("partition %d: committed offset should be %d, the broker has %s "+
				"(the group's OffsetCommit did not land; the group's errors: %s)", partition, next, found, firstError)
		}
	}
	if len(groupErrors) > 0 {
		return fmt.Errorf("the consumer group reported errors: %s", firstError)
	}
	fmt.Printf("commit offsets %v when the session ended: read back equal\n", reader.nextOffset)
	return nil
}

// survived checks, before the second phase reads, that the records and the
// group's committed offsets of the first phase outlived the restart: the
// partitions' end offsets add up to every record produced so far and the
// group has a committed offset on each partition.
func (s *scenario) survived(recordCount int) error {
	client, err := sarama.NewClient([]string{s.bootstrap}, s.config())
	if err != nil {
		return fmt.Errorf("client: %v", err)
	}
	defer client.Close()
	var total int64
	partitions := []int32{}
	for partition := int32(0); partition < partitionCount; partition++ {
		high, err := client.GetOffset(s.topic, partition, sarama.OffsetNewest)
		if err != nil {
			return fmt.Errorf("end offset of partition %d: %v", partition, err)
		}
		total += high
		partitions = append(partitions, partition)
	}
	if total != int64(recordCount) {
		return fmt.Errorf("the topic's partitions end at offsets adding up to %d, %d records were produced", total, recordCount)
	}
	admin, err := s.admin()
	if err != nil {
		return fmt.Errorf("admin client: %v", err)
	}
	defer admin.Close()
	committed, err := admin.ListConsumerGroupOffsets(s.group, map[string][]int32{s.topic: partitions})
	if err != nil {
		return fmt.Errorf("read the committed offsets: %v", err)
	}
	found := map[int32]int64{}
	for _, partition := range partitions {
		block := committed.GetBlock(s.topic, partition)
		if block == nil {
			return fmt.Errorf("partition %d missing from the committed offsets: the group's commits were lost", partition)
		}
		if block.Err != sarama.ErrNoError || block.Offset < 0 {
			return fmt.Errorf("partition %d has no committed offset (offset %d, error code %d): the group's commits were lost",
				partition, block.Offset, block.Err)
		}
		found[partition] = block.Offset
	}
	fmt.Printf("after the restart: the topic holds %d records, the group's committed offsets are %v\n", total, found)
	return nil
}

func (s *scenario) adminChecks() error {
	admin, err := s.admin()
	if err != nil {
		return fmt.Errorf("admin client: %v", err)
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics: %v", err)
	}
	if _, found := topics[s.topic]; !found {
		return fmt.Errorf("list topics does not show %s", s.topic)
	}
	fmt.Printf("list topics: includes %s\n", s.topic)

	described, err := admin.DescribeTopics([]string{s.topic})
	if err != nil {
		return fmt.Errorf("describe topic: %v", err)
	}
	if len(described) != 1 || described[0].Err != sarama.ErrNoError {
		return fmt.Errorf("describe topic: %d results, error %v", len(described), described[0].Err)
	}
	if count := len(described[0].Partitions); count != partitionCount {
		return fmt.Errorf("describe topic: %d partitions, expected %d", count, partitionCount)
	}
	for _, partition := range described[0].Partitions {
		if partition.Err != sarama.ErrNoError || partition.Leader < 0 {
			return fmt.Errorf("describe topic: partition %d has leader %d error %v",
				partition.ID, partition.Leader, partition.Err)
		}
	}
	fmt.Printf("describe topic: %d partitions, each with a leader\n", partitionCount)

	groups, err := admin.ListConsumerGroups()
	if err != nil {
		return fmt.Errorf("list groups: %v", err)
	}
	if _, found := groups[s.group]; !found {
		return fmt.Errorf("list groups does not show %s", s.group)
	}
	descriptions, err := admin.DescribeConsumerGroups([]string{s.group})
	if err != nil {
		return fmt.Errorf("describe group: %v", err)
	}
	if len(descriptions) != 1 || descriptions[0].Err != sarama.ErrNoError || descriptions[0].GroupId != s.group {
		return fmt.Errorf("describe group: unexpected answer %+v", descriptions)
	}
	fmt.Printf("list and describe groups: %s is there, state %q\n", s.group, descriptions[0].State)

	if err := admin.DeleteTopic(s.topic); err != nil {
		return fmt.Errorf("delete topic: %v", err)
	}
	fmt.Printf("delete topic %s: ok\n", s.topic)

	topics, err = admin.ListTopics()
	if err != nil {
		return fmt.Errorf("list topics after delete: %v", err)
	}
	if _, found := topics[s.topic]; found {
		return fmt.Errorf("list topics still shows %s after its deletion", s.topic)
	}
	fmt.Printf("list topics: %s is gone\n", s.topic)
	return nil
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: sarama-scenario <first|second> <bootstrap> <topic> <group>")
		os.Exit(2)
	}
	s := &scenario{bootstrap: os.Args[2], topic: os.Args[3], group: os.Args[4]}
	switch os.Args[1] {
	case "first":
		step("create topic", s.createTopic)
		step("produce", func() error { return s.produce(0, 100) })
		step("consume", func() error { return s.consume(0, 100) })
	case "second":
		step("produce", func() error { return s.produce(100, 150) })
		step("survived the restart", func() error { return s.survived(150) })
		step("consume", func() error { return s.consume(100, 150) })
		step("admin", s.adminChecks)
		fmt.Println("ok")
	default:
		fail("unknown phase %q: first or second", os.Args[1])
	}
}
