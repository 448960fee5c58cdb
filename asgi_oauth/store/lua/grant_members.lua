-- On a Cluster, read every member of an owner index (its buckets share its slot), to end each in its own slot.
-- KEYS[1]  the owner index
return grant_members(KEYS[1])
