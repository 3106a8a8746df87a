// Retention and topic configs through kafkajs 2.2.4's admin client: a topic
// with small segment.bytes and retention.bytes stays bounded while a
// producer writes, and a consumer from the beginning starts at the advanced
// log start offset.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Kafka, logLevel, ConfigResourceTypes } = require('kafkajs')
const { useBroker, waitFor, startConsumer } = require('./harness')

const broker = useBroker(['--cores', '2', '--group-initial-rebalance-delay-ms', '0', '--log-retention-check-interval-ms', '100'])

const client = () => new Kafka({ clientId: 'retention', brokers: [broker().brokers[0]], logLevel: logLevel.NOTHING })

test('retention.bytes bounds a topic and consumers from the beginning start at the log start offset', async () => {
  const kafka = client()
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({
    topics: [{ topic: 'r-bounded', numPartitions: 1, configEntries: [{ name: 'segment.bytes', value: '4096' }, { name: 'retention.bytes', value: '8192' }] }],
  })
  const described = await admin.describeConfigs({
    resources: [{ type: ConfigResourceTypes.TOPIC, name: 'r-bounded', configNames: ['retention.bytes', 'retention.ms'] }],
    includeSynonyms: false,
  })
  const entries = Object.fromEntries(described.resources[0].configEntries.map((entry) => [entry.configName, entry]))
  assert.equal(entries['retention.bytes'].configValue, '8192')
  assert.equal(entries['retention.bytes'].isDefault, false)
  assert.equal(entries['retention.ms'].configValue, '604800000')

  const producer = kafka.producer()
  await producer.connect()
  for (let index = 0; index < 100; index++) {
    await producer.send({ topic: 'r-bounded', messages: [{ value: `${String(index).padStart(4, '0')}-${'x'.repeat(400)}` }] })
  }
  await producer.disconnect()
  let low = 0
  await waitFor('the log start offset to advance', async () => {
    const offsets = await admin.fetchTopicOffsets('r-bounded')
    low = Number(offsets[0].low)
    return low > 50
  })

  const member = await startConsumer(kafka, { groupId: 'r-bounded-readers', topic: 'r-bounded' })
  await waitFor('the retained messages', () => member.received.length >= 100 - low)
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.equal(member.received[0].offset, low, 'starts at the log start offset')
  assert.deepEqual(member.received.map((r) => r.offset), [...Array(100 - low).keys()].map((i) => i + low))
  assert.ok(member.received[0].value.startsWith(String(low).padStart(4, '0')))
  await member.consumer.disconnect()

  // alterConfigs replaces the topic's configs; describeConfigs shows it.
  await admin.alterConfigs({
    resources: [{ type: ConfigResourceTypes.TOPIC, name: 'r-bounded', configEntries: [{ name: 'retention.ms', value: '3600000' }] }],
  })
  const altered = await admin.describeConfigs({
    resources: [{ type: ConfigResourceTypes.TOPIC, name: 'r-bounded', configNames: ['retention.ms', 'retention.bytes'] }],
    includeSynonyms: false,
  })
  const after = Object.fromEntries(altered.resources[0].configEntries.map((entry) => [entry.configName, entry.configValue]))
  assert.deepEqual(after, { 'retention.ms': '3600000', 'retention.bytes': '-1' })
  await admin.disconnect()
})
