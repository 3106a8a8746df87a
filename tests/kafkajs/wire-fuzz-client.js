// kafkajs after tests/wire_fuzz.rs has thrown its fuzzed frames at the
// broker: creates a two-partition topic, produces `count` messages with
// acks=-1, then reads them back through a consumer group. Prints one line per
// message received ("received <partition> <offset> <value>") and "done" at
// the end; exits non-zero on any error or after 60 s without all messages.
const { Kafka, logLevel } = require('kafkajs')

const [brokers, topic, count] = [process.argv[2].split(','), process.argv[3], Number(process.argv[4])]

async function main() {
  const kafka = new Kafka({ clientId: 'wire-fuzz-client', brokers, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })
  await admin.disconnect()

  const producer = kafka.producer()
  await producer.connect()
  const values = [...Array(count).keys()].map((index) => `kafkajs-${index}`)
  await producer.send({ topic, acks: -1, messages: values.map((value, index) => ({ value, partition: index % 2 })) })
  await producer.disconnect()

  const consumer = kafka.consumer({ groupId: `${topic}-group`, maxWaitTimeInMs: 200 })
  let received = 0
  let finish
  const finished = new Promise((resolve) => (finish = resolve))
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      console.log(`received ${partition} ${message.offset} ${message.value.toString()}`)
      received += 1
      if (received >= count) finish()
    },
  })
  const timer = setTimeout(() => {
    console.error(`timed out with ${received} of ${count} messages`)
    process.exit(1)
  }, 60000)
  await finished
  clearTimeout(timer)
  await consumer.disconnect()
  console.log('done')
}

main().catch((error) => {
  console.error(`wire-fuzz-client failed: ${error.stack}`)
  process.exit(1)
})
