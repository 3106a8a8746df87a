// One kafkajs client with retries turned off: connects to the broker list in
// argv[2], reads topic argv[3]'s metadata, produces one record and exits 0.
// Any failure (a reset or refused connection) exits non-zero: the restart
// test runs this right after a broker restart, when a first try must work.
const { Kafka, logLevel } = require('kafkajs')

async function main() {
  const [brokers, topic] = process.argv.slice(2)
  const kafka = new Kafka({
    clientId: 'first-connect',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 3000,
  })
  const admin = kafka.admin()
  await admin.connect()
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] })
  await admin.disconnect()
  const producer = kafka.producer({ retry: { retries: 0 } })
  await producer.connect()
  await producer.send({ topic, acks: -1, messages: [{ key: 'first', value: 'after restart' }] })
  await producer.disconnect()
  console.log(`ok ${metadata.topics[0].partitions.length} partitions`)
}

main().catch((error) => {
  console.error(`first-connect failed: ${error.stack || error}`)
  process.exit(1)
})
