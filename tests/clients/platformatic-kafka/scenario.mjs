// The client matrix scenario (tests/client_matrix.rs) with @platformatic/kafka.
//
// Phase `first`: create the topic, produce records 0..100, read them in the
// group, commit. Phase `second` (after a broker restart): produce 100..150,
// read exactly those in the group (older ones mean the commits were lost),
// then the admin calls, and `ok` last.

// @platformatic/kafka calls Promise.withResolvers, which arrived in Node.js 22;
// the machine has Node.js 20, so the library is loaded after this stand-in.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((settle, refuse) => { resolve = settle; reject = refuse })
    return { promise, resolve, reject }
  }
}
const { Admin, Consumer, Producer, ProduceAcks, stringDeserializers, stringSerializers } =
  await import('@platformatic/kafka')

const CLIENT = 'platformatic-kafka'
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

function options (bootstrap, role) {
  return { clientId: `matrix-${CLIENT}-${role}`, bootstrapBrokers: [bootstrap], timeout: STEP_MILLISECONDS }
}

async function createTopic (bootstrap, topic) {
  const admin = new Admin(options(bootstrap, 'admin'))
  await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 })
  await admin.close()
  step(`created topic ${topic} with ${PARTITIONS} partitions`)
}

async function produce (bootstrap, topic, indexes) {
  const producer = new Producer({
    ...options(bootstrap, 'producer'),
    serializers: stringSerializers,
    idempotent: true,
    acks: ProduceAcks.ALL
  })
  const result = await producer.send({
    messages: indexes.map(index => ({ topic, key: `k${index}`, value: `${CLIENT}:${index}` }))
  })
  await producer.close()
  if (!result.offsets || result.offsets.length === 0) fail(`produce: no offsets in ${JSON.stringify(result)}`)
  step(`produced ${indexes.length} records, all acknowledged`)
}

// Reads in the group until every index is seen once; fails on any other.
async function consume (bootstrap, topic, group, indexes) {
  const consumer = new Consumer({
    ...options(bootstrap, 'consumer'),
    groupId: group,
    deserializers: stringDeserializers
  })
  const stream = await consumer.consume({
    topics: [topic],
    mode: 'committed',
    fallbackMode: 'earliest',
    autocommit: false
  })
  const expected = new Set(indexes)
  const seen = new Set()
  const next = new Map() // partition -> { offset after the last record read, its leader epoch }
  for await (const message of stream) {
    const problem = checkRecord(message.key, message.value, expected, seen)
    if (problem) fail(problem)
    next.set(message.partition, { offset: message.offset + 1n, leaderEpoch: message.leaderEpoch })
    if (seen.size === expected.size) break
  }
  await consumer.commit({
    offsets: [...next].map(([partition, { offset, leaderEpoch }]) => ({ topic, partition, offset, leaderEpoch }))
  })
  await stream.close()
  await consumer.close()
  step(`consumed ${seen.size} records in group ${group}, committed, closed`)
}

// The reason a record is wrong, or null after counting it.
function checkRecord (key, value, expected, seen) {
  key = key ?? ''
  value = value ?? ''
  const [client, number] = value.split(':')
  if (client !== CLIENT || !/^\d+$/.test(number)) return `unexpected record ${key}=${value}`
  const index = Number(number)
  if (!expected.has(index)) return `record ${value} is not one of this phase's: committed offsets lost?`
  if (seen.has(index)) return `record ${value} delivered twice`
  if (key !== `k${index}`) return `record ${value} has key ${key}`
  seen.add(index)
  return null
}

async function adminChecks (bootstrap, topic, group) {
  const admin = new Admin(options(bootstrap, 'admin'))
  const topics = await admin.listTopics()
  if (!topics.includes(topic)) fail(`list topics: ${topic} missing from ${topics}`)
  step('list topics shows the topic')

  const metadata = await admin.metadata({ topics: [topic] })
  const description = metadata.topics.get(topic)
  const partitions = description?.partitions ?? []
  if (partitions.length !== PARTITIONS || partitions.some(partition => !(partition.leader >= 0))) {
    fail(`describe topic: ${JSON.stringify(description, (_, value) => typeof value === 'bigint' ? `${value}` : value)}`)
  }
  step(`describe topic: ${partitions.length} partitions with leaders`)

  const groups = await admin.listGroups()
  if (!groups.has(group)) fail(`list groups: ${group} missing from ${[...groups.keys()]}`)
  step('list groups shows the group')

  const described = (await admin.describeGroups({ groups: [group] })).get(group)
  if (!described || described.id !== group) fail(`describe group: ${JSON.stringify(described)}`)
  step(`describe group: state ${described.state}`)

  await admin.deleteTopics({ topics: [topic] })
  const deadline = Date.now() + STEP_MILLISECONDS
  while ((await admin.listTopics()).includes(topic)) {
    if (Date.now() > deadline) fail('the deleted topic is still listed')
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  step('deleted the topic; list topics no longer shows it')
  await admin.close()
}

const [phase, bootstrap, topic, group] = process.argv.slice(2)
if (!['first', 'second'].includes(phase) || !group) {
  fail('usage: run <first|second> <bootstrap> <topic> <group>')
}
try {
  if (phase === 'first') {
    await withTimeout('create topic', () => createTopic(bootstrap, topic))
    await withTimeout('produce', () => produce(bootstrap, topic, range(0, 100)))
    await withTimeout('consume', () => consume(bootstrap, topic, group, range(0, 100)))
  } else {
    await withTimeout('produce', () => produce(bootstrap, topic, range(100, 150)))
    await withTimeout('consume', () => consume(bootstrap, topic, group, range(100, 150)))
    await withTimeout('admin', () => adminChecks(bootstrap, topic, group))
    step('ok')
  }
} catch (error) {
  fail(`${error.name}: ${error.message}${error.errors ? ' ' + JSON.stringify(error.errors.map(inner => inner.message)) : ''}`)
}
process.exit(0)
