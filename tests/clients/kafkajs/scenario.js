// The client matrix scenario (tests/client_matrix.rs) with kafkajs.
//
// Phase `first`: create the topic, produce records 0..100, read them in the
// group, commit. Phase `second` (after a broker restart): produce 100..150,
// read exactly those in the group (older ones mean the commits were lost),
// then the admin calls, and `ok` last.
'use strict'

const { Kafka, Partitioners, logLevel } = require('kafkajs')

const CLIENT = 'kafkajs'
const STEP_MILLISECONDS = 60_000
const PARTITIONS = 3

function step (text) {
  console.log(text)
}

function fail (reason) {
  console.error(`${CLIENT}: ${reason}`)
  process.exit(1)
}

// Runs one step, failing the scenario when it takes longer than a step may.
async function withTimeout (name, work) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${name}: no answer in ${STEP_MILLISECONDS} ms`)), STEP_MILLISECONDS)
  })
  try {
    return await Promise.race([work(), timeout])
  } finally {
    clearTimeout(timer)
  }
}

function range (from, to) {
  return Array.from({ length: to - from }, (_, offset) => from + offset)
}

async function createTopic (kafka, topic) {
  const admin = kafka.admin()
  await admin.connect()
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
    waitForLeaders: true,
    timeout: STEP_MILLISECONDS
  })
  if (!created) fail(`create topic: ${topic} already exists`)
  await admin.disconnect()
  step(`created topic ${topic} with ${PARTITIONS} partitions`)
}

async function produce (kafka, topic, indexes) {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner
  })
  await producer.connect()
  const answers = await producer.send({
    topic,
    acks: -1,
    timeout: STEP_MILLISECONDS,
    messages: indexes.map(index => ({ key: `k${index}`, value: `${CLIENT}:${index}` }))
  })
  await producer.disconnect()
  const failed = answers.filter(answer => answer.errorCode !== 0)
  if (failed.length > 0) fail(`produce failed: ${JSON.stringify(failed)}`)
  step(`produced ${indexes.length} records, all acknowledged`)
}

// Reads in the group until every index is seen once; fails on any other.
async function consume (kafka, topic, group, indexes) {
  const consumer = kafka.consumer({ groupId: group })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const expected = new Set(indexes)
  const seen = new Set()
  const next = new Map() // partition -> offset after the last record read
  let problem = null
  await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`consumed ${seen.size} of ${expected.size} records in ${STEP_MILLISECONDS} ms`)),
      STEP_MILLISECONDS)
    consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        problem = problem || checkRecord(message.key, message.value, expected, seen)
        next.set(partition, (BigInt(message.offset) + 1n).toString())
        if (problem || seen.size === expected.size) {
          clearTimeout(timer)
          resolve()
        }
      }
    }).catch(reject)
  })
  if (problem) fail(problem)
  await consumer.commitOffsets([...next].map(([partition, offset]) => ({ topic, partition, offset })))
  await consumer.disconnect()
  step(`consumed ${seen.size} records in group ${group}, committed, closed`)
}

// The reason a record is wrong, or null after counting it.
function checkRecord (key, value, expected, seen) {
  key = key ? key.toString() : ''
  value = value ? value.toString() : ''
  const [client, number] = value.split(':')
  if (client !== CLIENT || !/^\d+$/.test(number)) return `unexpected record ${key}=${value}`
  const index = Number(number)
  if (!expected.has(index)) return `record ${value} is not one of this phase's: committed offsets lost?`
  if (seen.has(index)) return `record ${value} delivered twice`
  if (key !== `k${index}`) return `record ${value} has key ${key}`
  seen.add(index)
  return null
}

async function adminChecks (kafka, topic, group) {
  const admin = kafka.admin()
  await admin.connect()
  const topics = await admin.listTopics()
  if (!topics.includes(topic)) fail(`list topics: ${topic} missing from ${topics}`)
  step('list topics shows the topic')

  const { topics: [description] } = await admin.fetchTopicMetadata({ topics: [topic] })
  const partitions = description.partitions
  if (partitions.length !== PARTITIONS || partitions.some(partition => partition.leader < 0)) {
    fail(`describe topic: ${JSON.stringify(description)}`)
  }
  step(`describe topic: ${partitions.length} partitions with leaders`)

  const { groups } = await admin.listGroups()
  if (!groups.some(listing => listing.groupId === group)) {
    fail(`list groups: ${group} missing from ${JSON.stringify(groups)}`)
  }
  step('list groups shows the group')

  const { groups: [described] } = await admin.describeGroups([group])
  if (described.errorCode !== 0 || described.groupId !== group) {
    fail(`describe group: ${JSON.stringify(described)}`)
  }
  step(`describe group: state ${described.state}`)

  await admin.deleteTopics({ topics: [topic], timeout: STEP_MILLISECONDS })
  const deadline = Date.now() + STEP_MILLISECONDS
  while ((await admin.listTopics()).includes(topic)) {
    if (Date.now() > deadline) fail('the deleted topic is still listed')
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  step('deleted the topic; list topics no longer shows it')
  await admin.disconnect()
}

async function main () {
  const [phase, bootstrap, topic, group] = process.argv.slice(2)
  if (!['first', 'second'].includes(phase) || !group) {
    fail('usage: run <first|second> <bootstrap> <topic> <group>')
  }
  const kafka = new Kafka({ clientId: `matrix-${CLIENT}`, brokers: [bootstrap], logLevel: logLevel.WARN })
  if (phase === 'first') {
    await withTimeout('create topic', () => createTopic(kafka, topic))
    await withTimeout('produce', () => produce(kafka, topic, range(0, 100)))
    await withTimeout('consume', () => consume(kafka, topic, group, range(0, 100)))
  } else {
    await withTimeout('produce', () => produce(kafka, topic, range(100, 150)))
    await withTimeout('consume', () => consume(kafka, topic, group, range(100, 150)))
    await withTimeout('admin', () => adminChecks(kafka, topic, group))
    step('ok')
  }
}

main().then(
  () => process.exit(0),
  error => fail(`${error.name}: ${error.message}`))
