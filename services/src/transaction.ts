// The client a service writes with inside a transaction.
import type { PrismaClient } from './prisma.ts';

export type Transaction = Omit<PrismaClient, '$connect' | '$disconnect' | '$on' | '$transaction' | '$extends'>;
