-- tail-js for Fluent Bit: add one field to the parsed record, as hogtail's
-- add-property connector and syslog-ng's set() do. Return code 1 means
-- "record modified, keep the timestamp".
function add_shipper(tag, timestamp, record)
    record["shipper"] = "fluent-bit"
    return 1, timestamp, record
end
