// NodeStore on Redis: one hash, node id -> JSON record, written by each node's heartbeat (registrar/node-registry.ts
// decides when a node is dead). HDEL's count makes removal a once-only claim for the survivor that cleans up.
import type { Redis } from 'ioredis';
import type { NodeRecord, NodeStore } from '../types.ts';
import { guarded } from './connection.ts';

const NODES = 'nodes';

export class RedisNodeStore implements NodeStore {
  constructor(private readonly redis: Redis) {}

  async put(rec: NodeRecord): Promise<void> {
    await guarded(this.redis.hset(NODES, rec.id, JSON.stringify(rec)));
  }

  async list(): Promise<NodeRecord[]> {
    const all = await guarded(this.redis.hgetall(NODES));
    return Object.values(all).map((v) => JSON.parse(v) as NodeRecord);
  }

  async remove(id: string): Promise<boolean> {
    return (await guarded(this.redis.hdel(NODES, id))) === 1;
  }
}
