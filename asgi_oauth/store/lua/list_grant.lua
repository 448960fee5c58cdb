-- On a Cluster, list a grant in one owner index before the script that stores it runs (an index in another
-- slot than the family cannot be written by that script). Listed first, so no stored grant goes unlisted.
-- KEYS[1]  owner index        ARGV[1]  member     ARGV[2]  expiry (epoch ms)    ARGV[3]  now (epoch ms)
list_grant(1, 1)
return 1
