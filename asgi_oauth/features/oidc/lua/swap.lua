-- Compare-and-set of the generated signing-key document.
-- KEYS[1] the document; ARGV[1] the document expected now ('' for none), ARGV[2] the new document.
-- Returns 1 when stored, 0 when the stored document was not the expected one. Run twice, the second
-- run finds its own document and answers 1 again.
local current = redis.call('GET', KEYS[1])
if current == ARGV[2] then return 1 end
if (current == false and ARGV[1] == '') or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
