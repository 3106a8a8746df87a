// The client-matrix scenario for confluent-kafka-go as Debian packages it
// (golang-github-confluentinc-confluent-kafka-go-dev, built in GOPATH mode
// against /usr/share/gocode and linked to Debian's librdkafka).
//
// Usage: confluent-kafka-go-scenario <first|second> <bootstrap> <topic> <group>
// One line per step on stdout; on any failure the reason on stderr and exit 1.
//
// This confluent-kafka-go's admin client has no group listing: that part of
// the convention is skipped, and the scenario says so in its output.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/kafka"
)

const (
	clientName     = "confluent-kafka-go"
	partitionCount = 3
	// Every step of the convention ends within this.
	stepTimeout = 60 * time.Second
	// One request's bound inside a step, in milliseconds as librdkafka takes it.
	requestTimeoutMilliseconds = 30000
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

func (s *scenario) config() *kafka.ConfigMap {
	return &kafka.ConfigMap{
		"bootstrap.servers": s.bootstrap,
		"client.id":         "corelog-client-matrix-confluent-kafka-go",
	}
}

func (s *scenario) createTopic(deadline context.Context) error {
	admin, err := kafka.NewAdminClient(s.config())
	if err != nil {
		return fmt.Errorf("admin client: %v", err)
	}
	defer admin.Close()
	results, err := admin.CreateTopics(deadline,
		[]kafka.TopicSpecification{{Topic: s.topic, NumPartitions: partitionCount, ReplicationFactor: 1}},
		kafka.SetAdminOperationTimeout(30*time.Second))
	if err != nil {
		return fmt.Errorf("CreateTopics request failed: %v", err)
	}
	for _, result := range results {
		if result.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("CreateTopics answered %v for %s", result.Error, result.Topic)
		}
	}
	fmt.Printf("create topic %s with %d partitions: ok\n", s.topic, partitionCount)
	return nil
}

func (s *scenario) produce(deadline context.Context, start, end int) error {
	config := s.config()
	config.SetKey("enable.idempotence", true)
	config.SetKey("acks", "all")
	config.SetKey("message.timeout.ms", 50000)
	producer, err := kafka.NewProducer(config)
	if err != nil {
		return fmt.Errorf("producer: %v", err)
	}
	defer producer.Close()
	deliveries := make(chan kafka.Event, end-start)
	for index := start; index < end; index++ {
		err := producer.Produce(&kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &s.topic, Partition: kafka.PartitionAny},
			Key:            []byte(fmt.Sprintf("k%d", index)),
			Value:          []byte(fmt.Sprintf("%s:%d", clientName, index)),
		}, deliveries)
		if err != nil {
			return fmt.Errorf("enqueue of record %d: %v", index, err)
		}
	}
	for acknowledged := 0; acknowledged < end-start; acknowledged++ {
		select {
		case event := <-deliveries:
			message, isMessage := event.(*kafka.Message)
			if !isMessage {
				return fmt.Errorf("unexpected delivery event %v", event)
			}
			if message.TopicPartition.Error != nil {
				return fmt.Errorf("record %s not acknowledged: %v", message.Value, message.TopicPartition.Error)
			}
		case <-deadline.Done():
			return fmt.Errorf("%d of %d records acknowledged in time", acknowledged, end-start)
		}
	}
	fmt.Printf("produce %d keyed records (idempotent, acks=all), i in %d..%d: all acknowledged\n", end-start, start, end)
	return nil
}

// survived checks, before the second phase reads, that the records and the
// group's committed offsets of the first phase outlived the restart: the
// partitions' end offsets add up to every record produced so far and the
// group has a committed offset on each partition.
func (s *scenario) survived(deadline context.Context, recordCount int) error {
	config := s.config()
	config.SetKey("group.id", s.group)
	consumer, err := kafka.NewConsumer(config)
	if err != nil {
		return fmt.Errorf("consumer: %v", err)
	}
	defer consumer.Close()
	var total int64
	var partitions []kafka.TopicPartition
	for partition := int32(0); partition < partitionCount; partition++ {
		_, high, err := consumer.QueryWatermarkOffsets(s.topic, partition, requestTimeoutMilliseconds)
		if err != nil {
			return fmt.Errorf("end offset of partition %d: %v", partition, err)
		}
		total += high
		partitions = append(partitions, kafka.TopicPartition{Topic: &s.topic, Partition: partition})
	}
	if total != int64(recordCount) {
		return fmt.Errorf("the topic's partitions end at offsets adding up to %d, %d records were produced", total, recordCount)
	}
	committed, err := consumer.Committed(partitions, requestTimeoutMilliseconds)
	if err != nil {
		return fmt.Errorf("read the committed offsets: %v", err)
	}
	found := map[int32]kafka.Offset{}
	for _, partition := range committed {
		if partition.Error != nil || partition.Offset < 0 {
			return fmt.Errorf("partition %d has no committed offset (%v, error %v): the group's commits were lost",
				partition.Partition, partition.Offset, partition.Error)
		}
		found[partition.Partition] = partition.Offset
	}
	fmt.Printf("after the restart: the topic holds %d records, the group's committed offsets are %v\n", total, found)
	return nil
}

func (s *scenario) consume(deadline context.Context, start, end int) error {
	config := s.config()
	config.SetKey("group.id", s.group)
	config.SetKey("auto.offset.reset", "earliest")
	config.SetKey("enable.auto.commit", false)
	consumer, err := kafka.NewConsumer(config)
	if err != nil {
		return fmt.Errorf("consumer: %v", err)
	}
	closed := false
	defer func() {
		if !closed {
			consumer.Close()
		}
	}()
	if err := consumer.SubscribeTopics([]string{s.topic}, nil); err != nil {
		return fmt.Errorf("subscribe: %v", err)
	}
	seen := map[int]bool{}
	nextOffsets := map[int32]kafka.Offset{}
	for len(seen) < end-start {
		if deadline.Err() != nil {
			return fmt.Errorf("%d of %d values received in time", len(seen), end-start)
		}
		message, err := consumer.ReadMessage(time.Second)
		if err != nil {
			if kafkaError, isKafkaError := err.(kafka.Error); isKafkaError && kafkaError.Code() == kafka.ErrTimedOut {
				continue
			}
			return fmt.Errorf("receive: %v", err)
		}
		value := string(message.Value)
		index, err := strconv.Atoi(strings.TrimPrefix(value, clientName+":"))
		if err != nil || !strings.HasPrefix(value, clientName+":") {
			return fmt.Errorf("unexpected value %q", value)
		}
		if index < start || index >= end {
			reason := "never produced"
			if index < start {
				reason = "the committed offsets were lost"
			}
			return fmt.Errorf("received value %q (partition %d offset %v), outside %d..%d: %s",
				value, message.TopicPartition.Partition, message.TopicPartition.Offset, start, end, reason)
		}
		if key := string(message.Key); key != fmt.Sprintf("k%d", index) {
			return fmt.Errorf("value %q arrived with key %q", value, key)
		}
		if seen[index] {
			return fmt.Errorf("value %q received twice", value)
		}
		seen[index] = true
		nextOffsets[message.TopicPartition.Partition] = message.TopicPartition.Offset + 1
	}
	fmt.Printf("consume in group %s: values %d..%d each once with their keys\n", s.group, start, end)

	var offsets []kafka.TopicPartition
	for partition, next := range nextOffsets {
		offsets = append(offsets, kafka.TopicPartition{Topic: &s.topic, Partition: partition, Offset: next})
	}
	committed, err := consumer.CommitOffsets(offsets)
	if err != nil {
		return fmt.Errorf("commit: %v", err)
	}
	for _, partition := range committed {
		if partition.Error != nil {
			return fmt.Errorf("commit of partition %d: %v", partition.Partition, partition.Error)
		}
	}
	readBack, err := consumer.Committed(offsets, requestTimeoutMilliseconds)
	if err != nil {
		return fmt.Errorf("read back the committed offsets: %v", err)
	}
	for _, partition := range readBack {
		if partition.Error != nil || partition.Offset != nextOffsets[partition.Partition] {
			return fmt.Errorf("partition %d committed offset reads back as %v (error %v), committed %v",
				partition.Partition, partition.Offset, partition.Error, nextOffsets[partition.Partition])
		}
	}
	fmt.Printf("commit offsets %v synchronously: read back equal\n", nextOffsets)
	closed = true
	if err := consumer.Close(); err != nil {
		return fmt.Errorf("close consumer: %v", err)
	}
	fmt.Println("close consumer: ok")
	return nil
}

func (s *scenario) adminChecks(deadline context.Context) error {
	admin, err := kafka.NewAdminClient(s.config())
	if err != nil {
		return fmt.Errorf("admin client: %v", err)
	}
	defer admin.Close()
	listed, err := admin.GetMetadata(nil, true, requestTimeoutMilliseconds)
	if err != nil {
		return fmt.Errorf("list topics: %v", err)
	}
	if _, found := listed.Topics[s.topic]; !found {
		return fmt.Errorf("list topics does not show %s", s.topic)
	}
	fmt.Printf("list topics: includes %s\n", s.topic)

	described, err := admin.GetMetadata(&s.topic, false, requestTimeoutMilliseconds)
	if err != nil {
		return fmt.Errorf("describe topic: %v", err)
	}
	topic, found := described.Topics[s.topic]
	if !found || topic.Error.Code() != kafka.ErrNoError {
		return fmt.Errorf("describe topic: found %v, error %v", found, topic.Error)
	}
	if len(topic.Partitions) != partitionCount {
		return fmt.Errorf("describe topic: %d partitions, expected %d", len(topic.Partitions), partitionCount)
	}
	for _, partition := range topic.Partitions {
		if partition.Error.Code() != kafka.ErrNoError || partition.Leader < 0 {
			return fmt.Errorf("describe topic: partition %d has leader %d error %v",
				partition.ID, partition.Leader, partition.Error)
		}
	}
	fmt.Printf("describe topic: %d partitions, each with a leader\n", partitionCount)
	fmt.Println("list and describe groups: skipped, this confluent-kafka-go's admin client has no group API")

	results, err := admin.DeleteTopics(deadline, []string{s.topic}, kafka.SetAdminOperationTimeout(30*time.Second))
	if err != nil {
		return fmt.Errorf("DeleteTopics request failed: %v", err)
	}
	for _, result := range results {
		if result.Error.Code() != kafka.ErrNoError {
			return fmt.Errorf("DeleteTopics answered %v for %s", result.Error, result.Topic)
		}
	}
	fmt.Printf("delete topic %s: ok\n", s.topic)

	listed, err = admin.GetMetadata(nil, true, requestTimeoutMilliseconds)
	if err != nil {
		return fmt.Errorf("list topics after delete: %v", err)
	}
	if _, found := listed.Topics[s.topic]; found {
		return fmt.Errorf("list topics still shows %s after its deletion", s.topic)
	}
	fmt.Printf("list topics: %s is gone\n", s.topic)
	return nil
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: confluent-kafka-go-scenario <first|second> <bootstrap> <topic> <group>")
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
