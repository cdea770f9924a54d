# The gateway proxy on the official Deno image, as the non-root `deno` user.
FROM denoland/deno:2.9.6

ENV GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080 \
    DATA_DIR=/data
RUN mkdir -p /app /data && chown deno:deno /app /data
WORKDIR /app
USER deno

# Dependencies first, so code changes do not re-download them.
COPY --chown=deno:deno deno.json deno.lock deps.ts ./
RUN deno install --frozen

COPY --chown=deno:deno . .
# The shard workers are loaded by URL at run time: cache their module too.
RUN deno cache --frozen src/main.ts src/workers/worker_main.ts

VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch(`http://127.0.0.1:${Deno.env.get('GATEWAY_PORT') ?? 8080}/healthz`); Deno.exit(r.ok ? 0 : 1)"]

CMD ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-write", "src/main.ts"]
