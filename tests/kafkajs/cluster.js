// kafkajs against a corelog cluster (tests/cluster.rs runs it; a plain
// script, not a node:test file): creates TOPIC with 6 partitions through
// the bootstrap list, produces COUNT unique values with acks=all, then a
// consumer in GROUP reads them back and commits. Prints one line per fact
// for the Rust test to check:
//   leaders L0,L1,...      the leader of each partition, by partition
//   produced N
//   consumed N unique U    records received, distinct values among them
// Exits non-zero, with the reason on stderr, when any step fails.
//
//   node cluster.js BOOTSTRAP TOPIC GROUP COUNT
const { Kafka, logLevel } = require('kafkajs')

const [bootstrap, topic, groupId, countText] = process.argv.slice(2)
if (!bootstrap || !topic || !groupId || !countText) {
  console.error('usage: node cluster.js BOOTSTRAP TOPIC GROUP COUNT')
  process.exit(2)
}
const count = Number(countText)
const partitions = 6
const consumeTimeoutMs = 60000

const kafka = new Kafka({
  clientId: 'corelog-cluster-test',
  brokers: bootstrap.split(','),
  logLevel: logLevel.ERROR,
  retry: { initialRetryTime: 200, maxRetryTime: 2000, retries: 10 },
  requestTimeout: 10000,
})

async function createTopic() {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const created = await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true })
    if (!created) throw new Error(`topic ${topic} existed already`)
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] })
    const leaders = metadata.topics[0].partitions
      .slice()
      .sort((a, b) => a.partitionId - b.partitionId)
      .map((partition) => partition.leader)
    console.log(`leaders ${leaders.join(',')}`)
  } finally {
    await admin.disconnect()
  }
}

async function produce() {
  const producer = kafka.producer()
  await producer.connect()
  try {
    const batch = 20
    for (let first = 0; first < count; first += batch) {
      const messages = []
      for (let index = first; index < Math.min(first + batch, count); index++) {
        messages.push({ key: `key-${index}`, value: `value-${index}` })
      }
      await producer.send({ topic, acks: -1, messages })
    }
    console.log(`produced ${count}`)
  } finally {
    await producer.disconnect()
  }
}

async function consume() {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500 })
  const values = new Set()
  let received = 0
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        received += 1
        values.add(message.value.toString())
      },
    })
    const deadline = Date.now() + consumeTimeoutMs
    while (values.size < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } finally {
    // Disconnecting commits what was consumed (kafkajs commits on stop).
    await consumer.disconnect()
  }
  console.log(`consumed ${received} unique ${values.size}`)
  if (values.size < count) throw new Error(`only ${values.size} of ${count} values read back in ${consumeTimeoutMs} ms`)
}

async function main() {
  await createTopic()
  await produce()
  await consume()
}

main().catch((error) => {
  console.error(`cluster.js failed: ${error.stack || error.message}`)
  process.exit(1)
})
