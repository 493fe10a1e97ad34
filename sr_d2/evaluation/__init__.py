from .tables import sem_seg_table
