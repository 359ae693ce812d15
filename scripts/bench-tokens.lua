-- wrk script for the "new token every call" rows of `make bench`: each
-- request carries the next of the pre-minted tokens in BENCH_TOKEN_FILE, so
-- every call is a token-cache miss and pays a signature verification.
-- Threads take disjoint slices (line i goes to thread i mod n) so no two
-- threads send the same token.  A thread that runs out wraps around; those
-- calls hit the cache, so done() prints how many tokens were sent again.

local threads = {}
local counter = 0

function setup(thread)
    thread:set("id", counter)
    counter = counter + 1
    table.insert(threads, thread)
end

function init(args)
    local n = tonumber(os.getenv("BENCH_THREADS") or "1")
    tokens = {}
    issued = 0
    local i = 0
    for line in io.lines(os.getenv("BENCH_TOKEN_FILE")) do
        if i % n == id then
            tokens[#tokens + 1] = "Bearer " .. line
        end
        i = i + 1
    end
    ntokens = #tokens
    headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
end

function request()
    issued = issued + 1
    headers["Authorization"] = tokens[(issued - 1) % ntokens + 1]
    return wrk.format(nil, nil, headers)
end

function done(summary, latency, requests)
    local reused = 0
    for _, t in ipairs(threads) do
        local extra = (t:get("issued") or 0) - (t:get("ntokens") or 0)
        if extra > 0 then reused = reused + extra end
    end
    io.write(string.format("bench-tokens: reused %d\n", reused))
end
