// kafkajs 2.2.4 seed programs against the real corelog binary (two shards,
// ephemeral ports, temp data dir). Records are read back with kcat, which
// reports exact partitions, offsets, keys, values and headers.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const { Kafka, CompressionTypes, logLevel } = require('kafkajs')
const { useBroker, consumeFromBeginning } = require('./harness')

const broker = useBroker(['--cores', '2'])

const client = () => new Kafka({ clientId: 'seed', brokers: [broker().brokers[0]], logLevel: logLevel.NOTHING })

async function createTopic(kafka, topic, numPartitions) {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions }] })
  await admin.disconnect()
}

function kcatConsume(topic) {
  const result = spawnSync('kcat', ['-b', broker().brokers[0], '-C', '-t', topic, '-o', 'beginning', '-e', '-f', '%p|%o|%k|%s|%h\n'], {
    encoding: 'utf8',
    timeout: 60000,
    maxBuffer: 64 * 1024 * 1024,
  })
  assert.equal(result.status, 0, `kcat failed: ${result.stderr}`)
  return result.stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const [partition, offset, key, value, headers] = line.split('|')
      return { partition: Number(partition), offset: Number(offset), key, value, headers }
    })
}

test('admin: createTopics, listTopics, fetchTopicMetadata, fetchTopicOffsets, deleteTopics', async () => {
  const admin = client().admin()
  await admin.connect()
  assert.equal(await admin.createTopics({ topics: [{ topic: 'seed-admin', numPartitions: 2 }], waitForLeaders: true }), true)
  assert.ok((await admin.listTopics()).includes('seed-admin'))
  const metadata = await admin.fetchTopicMetadata({ topics: ['seed-admin'] })
  const partitions = metadata.topics[0].partitions.sort((a, b) => a.partitionId - b.partitionId)
  assert.deepEqual(partitions.map((p) => p.leader), [0, 1], 'one partition per shard')
  const offsets = await admin.fetchTopicOffsets('seed-admin')
  assert.deepEqual(offsets.map((o) => [o.partition, o.offset, o.low, o.high]).sort(), [[0, '0', '0', '0'], [1, '0', '0', '0']])
  await admin.deleteTopics({ topics: ['seed-admin'] })
  assert.ok(!(await admin.listTopics()).includes('seed-admin'))
  await admin.disconnect()
})

test('producer: keyed messages, headers and explicit partitions arrive exactly', async () => {
  const kafka = client()
  await createTopic(kafka, 'seed-produce', 2)
  const producer = kafka.producer()
  await producer.connect()
  const sent = await producer.send({
    topic: 'seed-produce',
    messages: [
      { key: 'alpha', value: 'explicit-0', partition: 0, headers: { trace: 'abc' } },
      { key: 'beta', value: 'explicit-1', partition: 1, headers: { trace: 'def', team: 'core' } },
      { key: 'gamma', value: 'explicit-1b', partition: 1 },
    ],
  })
  assert.ok(sent.every((r) => r.errorCode === 0))
  // Keyed messages without a partition go where kafkajs's partitioner sends them.
  const keyed = await producer.send({ topic: 'seed-produce', messages: [{ key: 'same-key', value: 'k1' }, { key: 'same-key', value: 'k2' }] })
  await producer.disconnect()
  const records = kcatConsume('seed-produce')
  const p0 = records.filter((r) => r.partition === 0)
  const p1 = records.filter((r) => r.partition === 1)
  assert.deepEqual(p0[0], { partition: 0, offset: 0, key: 'alpha', value: 'explicit-0', headers: 'trace=abc' })
  assert.deepEqual(p1.slice(0, 2), [
    { partition: 1, offset: 0, key: 'beta', value: 'explicit-1', headers: 'trace=def,team=core' },
    { partition: 1, offset: 1, key: 'gamma', value: 'explicit-1b', headers: '' },
  ])
  const keyedPartition = keyed[0].partition
  const sameKey = records.filter((r) => r.key === 'same-key')
  assert.deepEqual(sameKey.map((r) => [r.partition, r.value]), [[keyedPartition, 'k1'], [keyedPartition, 'k2']])
  assert.deepEqual(sameKey.map((r) => r.offset), [Number(keyed[0].baseOffset), Number(keyed[0].baseOffset) + 1])
  // A kafkajs consumer from the beginning receives exactly what kcat read.
  const consumed = await consumeFromBeginning(kafka, { groupId: 'seed-produce-readers', topic: 'seed-produce', count: records.length })
  const asRead = (list) => list.map((r) => `${r.partition}|${r.offset}|${r.key}|${r.value}`).sort()
  assert.deepEqual(asRead(consumed), asRead(records))
})

test('producer: 10,000 messages in gzip batches, all read back in order', async () => {
  const kafka = client()
  await createTopic(kafka, 'seed-gzip', 2)
  const producer = kafka.producer()
  await producer.connect()
  for (let batch = 0; batch < 20; batch++) {
    const messages = []
    for (let index = 0; index < 500; index++) {
      const n = batch * 500 + index
      messages.push({ key: `key-${n}`, value: `value-${n}`, partition: n % 2 })
    }
    await producer.send({ topic: 'seed-gzip', compression: CompressionTypes.GZIP, messages })
  }
  await producer.disconnect()
  const offsets = await (async () => {
    const admin = kafka.admin()
    await admin.connect()
    const result = await admin.fetchTopicOffsets('seed-gzip')
    await admin.disconnect()
    return result
  })()
  assert.deepEqual(offsets.map((o) => o.high).sort(), ['5000', '5000'])
  const records = kcatConsume('seed-gzip')
  assert.equal(records.length, 10000)
  for (const partition of [0, 1]) {
    const mine = records.filter((r) => r.partition === partition)
    assert.deepEqual(mine.map((r) => r.offset), [...Array(5000).keys()])
    assert.deepEqual(mine.map((r) => r.value), [...Array(5000).keys()].map((i) => `value-${i * 2 + partition}`))
    assert.deepEqual(mine.map((r) => r.key), [...Array(5000).keys()].map((i) => `key-${i * 2 + partition}`))
  }
  const consumed = await consumeFromBeginning(kafka, { groupId: 'seed-gzip-readers', topic: 'seed-gzip', count: 10000 })
  assert.equal(consumed.length, 10000, 'no message twice')
  for (const partition of [0, 1]) {
    const mine = consumed.filter((r) => r.partition === partition)
    assert.deepEqual(mine.map((r) => r.offset), [...Array(5000).keys()], `partition ${partition} in order`)
    assert.deepEqual(mine.map((r) => r.value), [...Array(5000).keys()].map((i) => `value-${i * 2 + partition}`))
  }
})
