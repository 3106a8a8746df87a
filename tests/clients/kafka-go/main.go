// The client-matrix scenario for kafka-go as Debian packages it
// (golang-github-segmentio-kafka-go-dev, built in GOPATH mode against
// /usr/share/gocode).
//
// Usage: kafka-go-scenario <first|second> <bootstrap> <topic> <group>
// One line per step on stdout; on any failure the reason on stderr and exit 1.
//
// This kafka-go has no idempotent producer and keeps its group listing and
// describing unexported: those parts of the convention are skipped, and the
// scenario says so in its output.
//
// Request versions this kafka-go (0.2.1) sends: CreateTopics v0, Produce v2
// with message format v1 (magic 1), Fetch v2 (it reads message formats v0
// and v1 only), ListOffsets v1, Metadata v1, DeleteTopics v1,
// FindCoordinator v0, JoinGroup v1, SyncGroup/Heartbeat/LeaveGroup v0,
// OffsetFetch v1, OffsetCommit v2. Kafka 3.9 accepts all of them and
// converts between message formats; Kafka 4.0 dropped CreateTopics v0-v1,
// Produce v0-v2 and Fetch v0-v3 (KIP-896), so it cannot serve this client.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

const (
	clientName     = "kafka-go"
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
func step(name string, work func(context.Context) error) {
	deadline, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- work(deadline) }()
	select {
	case err := <-done:
		if err != nil {
			fail("%s: %v", name, err)
		}
	case <-time.After(stepTimeout + 5*time.Second):
		fail("%s: no result within %s", name, stepTimeout)
	}
}

func (s *scenario) dial(deadline context.Context) (*kafka.Conn, error) {
	conn, err := kafka.DialContext(deadline, "tcp", s.bootstrap)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %v", s.bootstrap, err)
	}
	if when, ok := deadline.Deadline(); ok {
		conn.SetDeadline(when)
	}
	return conn, nil
}

func (s *scenario) createTopic(deadline context.Context) error {
	conn, err := s.dial(deadline)
	if err != nil {
		return err
	}
	defer conn.Close()
	err = conn.CreateTopics(kafka.TopicConfig{Topic: s.topic, NumPartitions: partitionCount, ReplicationFactor: 1})
	if err != nil {
		return err
	}
	fmt.Printf("create topic %s with %d partitions: ok\n", s.topic, partitionCount)
	return nil
}

func (s *scenario) produce(deadline context.Context, start, end int) error {
	writer := kafka.NewWriter(kafka.WriterConfig{
		Brokers:      []string{s.bootstrap},
		Topic:        s.topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: -1,
		BatchTimeout: 10 * time.Millisecond,
	})
	var messages []kafka.Message
	for index := start; index < end; index++ {
		messages = append(messages, kafka.Message{
			Key:   []byte(fmt.Sprintf("k%d", index)),
			Value: []byte(fmt.Sprintf("%s:%d", clientName, index)),
		})
	}
	// The writer is synchronous: it returns once every message is
	// acknowledged or failed.
	if err := writer.WriteMessages(deadline, messages...); err != nil {
		writer.Close()
		return fmt.Errorf("not every record was acknowledged: %v", err)
	}
	if err := writer.Close(); err != nil {
		return fmt.Errorf("close writer: %v", err)
	}
	fmt.Printf("produce %d keyed records (acks=all; this kafka-go has no idempotent producer), i in %d..%d: all acknowledged\n",
		end-start, start, end)
	return nil
}

// survived checks, before the second phase reads, that the records of the
// first phase outlived the restart: the partitions' end offsets add up to
// every record produced so far. (This kafka-go cannot read a group's
// committed offsets outside a reader; the consume step catches lost ones.)
func (s *scenario) survived(deadline context.Context, recordCount int) error {
	total, err := s.endOffsetTotal(deadline)
	if err != nil {
		return err
	}
	if total != int64(recordCount) {
		return fmt.Errorf("the topic's partitions end at offsets adding up to %d, %d records were produced", total, recordCount)
	}
	fmt.Printf("after the restart: the topic holds %d records\n", total)
	return nil
}

func (s *scenario) consume(deadline context.Context, start, end int) error {
	// CommitInterval 0 makes CommitMessages synchronous; a group without a
	// committed offset starts at the first offset.
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        []string{s.bootstrap},
		GroupID:        s.group,
		Topic:          s.topic,
		MaxWait:        500 * time.Millisecond,
		CommitInterval: 0,
	})
	seen := map[int]bool{}
	nextOffsets := map[int]int64{}
	var received []kafka.Message
	for len(seen) < end-start {
		message, err := reader.FetchMessage(deadline)
		if err != nil {
			reader.Close()
			return fmt.Errorf("fetch after %d values: %v", len(seen), err)
		}
		value := string(message.Value)
		index, err := strconv.Atoi(strings.TrimPrefix(value, clientName+":"))
		if err != nil || !strings.HasPrefix(value, clientName+":") {
			reader.Close()
			return fmt.Errorf("unexpected value %q", value)
		}
		if index < start || index >= end {
			reason := "never produced"
			if index < start {
				reason = "the committed offsets were lost"
			}
			reader.Close()
			return fmt.Errorf("received value %q (partition %d offset %d), outside %d..%d: %s",
				value, message.Partition, message.Offset, start, end, reason)
		}
		if key := string(message.Key); key != fmt.Sprintf("k%d", index) {
			reader.Close()
			return fmt.Errorf("value %q arrived with key %q", value, key)
		}
		if seen[index] {
			reader.Close()
			return fmt.Errorf("value %q received twice", value)
		}
		seen[index] = true
		nextOffsets[message.Partition] = message.Offset + 1
		received = append(received, message)
	}
	fmt.Printf("consume in group %s: values %d..%d each once with their keys\n", s.group, start, end)
	if err := reader.CommitMessages(deadline, received...); err != nil {
		reader.Close()
		return fmt.Errorf("commit: %v", err)
	}
	fmt.Printf("commit offsets %v synchronously: ok\n", nextOffsets)
	if err := reader.Close(); err != nil {
		return fmt.Errorf("close reader: %v", err)
	}
	fmt.Println("close consumer: ok")
	return nil
}

// endOffsetTotal adds up the end offsets of the topic's partitions.
func (s *scenario) endOffsetTotal(deadline context.Context) (int64, error) {
	var total int64
	for partition := 0; partition < partitionCount; partition++ {
		conn, err := kafka.DialLeader(deadline, "tcp", s.bootstrap, s.topic, partition)
		if err != nil {
			return 0, fmt.Errorf("connect to the leader of partition %d: %v", partition, err)
		}
		if when, ok := deadline.Deadline(); ok {
			conn.SetDeadline(when)
		}
		high, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			return 0, fmt.Errorf("end offset of partition %d: %v", partition, err)
		}
		total += high
	}
	return total, nil
}

// adminChecks does what this kafka-go can of the convention's admin step.
// Its only Metadata request is v1, and its "all partitions" form sends an
// empty topic list, which in v1 means no topics (null would mean all): it
// cannot list topics. And Metadata v1 creates a topic it names, as Kafka does
// for v0-v3 requests, so after the deletion the check is that the topic's
// records are gone, not that its name is.
func (s *scenario) adminChecks(deadline context.Context) error {
	fmt.Println("list topics: skipped, this kafka-go cannot list all topics")
	conn, err := s.dial(deadline)
	if err != nil {
		return err
	}
	defer conn.Close()
	described, err := conn.ReadPartitions(s.topic)
	if err != nil {
		return fmt.Errorf("describe topic: %v", err)
	}
	if len(described) != partitionCount {
		return fmt.Errorf("describe topic: %d partitions, expected %d", len(described), partitionCount)
	}
	for _, partition := range described {
		if partition.Leader.Port == 0 {
			return fmt.Errorf("describe topic: partition %d has no leader", partition.ID)
		}
	}
	fmt.Printf("describe topic: %d partitions, each with a leader\n", partitionCount)
	fmt.Println("list and describe groups: skipped, this kafka-go keeps them unexported")

	if err := conn.DeleteTopics(s.topic); err != nil {
		return fmt.Errorf("delete topic: %v", err)
	}
	fmt.Printf("delete topic %s: ok\n", s.topic)

	total, err := s.endOffsetTotal(deadline)
	if err != nil {
		return fmt.Errorf("after delete: %v", err)
	}
	if total != 0 {
		return fmt.Errorf("after its deletion %s still holds records up to offsets adding up to %d", s.topic, total)
	}
	fmt.Printf("after delete: %s holds no records (Metadata v1 creates it again, as Kafka does)\n", s.topic)
	return nil
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: kafka-go-scenario <first|second> <bootstrap> <topic> <group>")
		os.Exit(2)
	}
	s := &scenario{bootstrap: os.Args[2], topic: os.Args[3], group: os.Args[4]}
	switch os.Args[1] {
	case "first":
		step("create topic", s.createTopic)
		step("produce", func(deadline context.Context) error { return s.produce(deadline, 0, 100) })
		step("consume", func(deadline context.Context) error { return s.consume(deadline, 0, 100) })
	case "second":
		step("produce", func(deadline context.Context) error { return s.produce(deadline, 100, 150) })
		step("survived the restart", func(deadline context.Context) error { return s.survived(deadline, 150) })
		step("consume", func(deadline context.Context) error { return s.consume(deadline, 100, 150) })
		step("admin", s.adminChecks)
		fmt.Println("ok")
	default:
		fail("unknown phase %q: first or second", os.Args[1])
	}
}
