// The AWS SDK for JavaScript v3, unchanged, against a Tessera gateway: catalog calls, WriteRecords with a
// rejection, and a paged Query. Configured only through the environment (TESSERA_ENDPOINT, the AWS_* keys and
// region, TESSERA_DATABASE); prints one JSON object for the Python test to check. Without TESSERA_ENDPOINT the
// clients get no endpoint, as AWS's sample apps build them: AWS_ENDPOINT_URL_TIMESTREAM_WRITE/_QUERY name the
// gateway and the SDK finds it through DescribeEndpoints.
import {
  TimestreamWriteClient, CreateDatabaseCommand, CreateTableCommand, WriteRecordsCommand, ListDatabasesCommand,
  DescribeTableCommand, RejectedRecordsException,
} from "@aws-sdk/client-timestream-write";
import { TimestreamQueryClient, QueryCommand } from "@aws-sdk/client-timestream-query";

const endpoint = process.env.TESSERA_ENDPOINT;
const database = process.env.TESSERA_DATABASE;
const config = endpoint ? { endpoint } : {};
const write = new TimestreamWriteClient(config);
const query = new TimestreamQueryClient(config);
const out = {};

await write.send(new CreateDatabaseCommand({ DatabaseName: database }));
const table = await write.send(new CreateTableCommand({
  DatabaseName: database, TableName: "readings",
  RetentionProperties: { MemoryStoreRetentionPeriodInHours: 12, MagneticStoreRetentionPeriodInDays: 7 },
}));
out.tableArn = table.Table.Arn;
out.retention = (await write.send(new DescribeTableCommand({ DatabaseName: database, TableName: "readings" })))
  .Table.RetentionProperties;

const now = Date.now();
const records = Array.from({ length: 25 }, (_, i) => ({
  Dimensions: [{ Name: "sensor", Value: `s${String(i).padStart(2, "0")}` }],
  MeasureName: "temp", MeasureValue: String(20 + i / 4), MeasureValueType: "DOUBLE", Time: String(now - i),
}));
out.ingested = (await write.send(new WriteRecordsCommand({ DatabaseName: database, TableName: "readings", Records: records })))
  .RecordsIngested;
try {
  await write.send(new WriteRecordsCommand({
    DatabaseName: database, TableName: "readings", Records: [{ ...records[3], MeasureValue: "99" }],
  }));
  out.rejected = "not rejected";
} catch (err) {
  out.rejected = err instanceof RejectedRecordsException ? err.RejectedRecords : `${err.name}: ${err.message}`;
}
out.databases = [];
let listed = { NextToken: undefined };
do {
  listed = await write.send(new ListDatabasesCommand({ MaxResults: 5, NextToken: listed.NextToken }));
  out.databases.push(...listed.Databases.map((d) => d.DatabaseName));
} while (listed.NextToken);

const sql = `SELECT sensor, measure_value::double AS temp, time FROM "${database}"."readings" ORDER BY sensor`;
let page = await query.send(new QueryCommand({ QueryString: sql, MaxRows: 10 }));
out.columns = page.ColumnInfo;
out.rows = page.Rows;
out.pages = 1;
while (page.NextToken) {
  page = await query.send(new QueryCommand({ QueryString: sql, MaxRows: 10, NextToken: page.NextToken }));
  out.rows.push(...page.Rows);
  out.pages += 1;
}
try {
  await query.send(new QueryCommand({ QueryString: `SELECT * FROM "${database}"."absent"` }));
} catch (err) {
  out.queryError = err.name;
}
console.log(JSON.stringify(out));
